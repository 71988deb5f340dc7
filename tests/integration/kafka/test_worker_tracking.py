"""The worker's exactly-once on PostgreSQL when partitions interleave out of store order.

No broker here: records are fed to the worker's applier in the worst order two
partitions can produce (all of one, then all of the other), then all again (a
redelivery after a crash). The corpus has merges, whose two patients' events
mostly sit on different partitions. The rows must equal the in-process SQLite ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from adapters.bootstrap import build, build_view
from adapters.kafka.codec import decode_record, encode_notification
from adapters.kafka.relay import PatientKeys
from adapters.kafka.worker import ProjectionApplier, tracking_name, write_status
from engine.config import Settings
from projections.catalog import CATALOG
from tests.fakes import FakeMessageValidator
from tests.scale import corpus, dump_postgres, dump_sqlite

pytestmark = pytest.mark.postgres


def test_partitions_out_of_store_order_apply_once_each(postgres_url: str, tmp_path: Path) -> None:
    db = tmp_path / "reference.db"
    # Every class queues here (the corpus's visits are inpatients): every table gets rows.
    every_class = frozenset({"*"})
    reference = build(
        Settings(store=f"sqlite:///{db}", queue_classes=every_class),
        validator=FakeMessageValidator(),
    )
    for story in corpus(140, merge_every=3):
        assert {o.ack_code for o in reference.ingestion.ingest_many([(m, "t") for m in story])} == {
            "AA"
        }
    reference.runner.catch_up()
    app = reference.ingestion
    notifications = app.recorder.select_notifications(1, 10_000)
    keys = PatientKeys(app)
    partitions: dict[int, list[object]] = {0: [], 1: []}
    for n in notifications:
        key = keys.key_for(app.mapper.to_domain_event(n))
        value, headers = encode_notification(app.name, n)
        partitions[key.int % 2].append(decode_record(value, headers))
    assert partitions[0] and partitions[1]
    merges = [r for p in partitions.values() for r in p if r.stored.topic.endswith(".Merged")]  # type: ignore[attr-defined]
    assert len(merges) >= 4

    settings = Settings(store=postgres_url)
    env = settings.eventsourcing_env()
    views = [build_view(spec, settings, env) for spec in CATALOG]
    applier = ProjectionApplier(
        app.mapper, [s.project(v) for s, v in zip(CATALOG, views, strict=True)]
    )
    # Partition 1's later ids first (out of global order), in rounds as faust hands them over.
    ordered = [(r, p) for p in (1, 0) for r in partitions[p]]
    for start in range(0, len(ordered), 50):
        applier.apply_batch(ordered[start : start + 50])  # type: ignore[arg-type]
    applied = applier.applied
    assert applied > 0 and applier.duplicates == 0
    # The status the worker logs and writes to its heartbeat file: each partition's position.
    heads = {p: max(r.notification_id for r in rs) for p, rs in partitions.items()}  # type: ignore[attr-defined]
    write_status(tmp_path / "heartbeat", applier.status())
    status = json.loads((tmp_path / "heartbeat").read_text())
    assert status["positions"] == {str(p): n for p, n in heads.items()}
    assert status["applied"] == applied and 0 <= status["lag_s"] < 3600
    # Everything again, as after a crash before the offset commit: one round, then one by one.
    for partition in (0, 1):
        applier.apply_batch([(r, partition) for r in partitions[partition]])  # type: ignore[misc]
    for record, partition in ordered[:5]:
        applier.apply(record, partition)  # type: ignore[arg-type]
    assert applier.applied == applied and applier.duplicates >= applied

    expected = dump_sqlite(str(db))
    assert all(expected.values()), [t for t, rows in expected.items() if not rows]
    assert dump_postgres(postgres_url) == expected

    # Why per partition: one position for the whole topic refuses an older event.
    view = views[0]
    newest = view.max_tracking_id(tracking_name(app.name, 1))
    assert newest is not None and view.max_tracking_id(tracking_name(app.name, 0))
    view.insert_tracking(Tracking("one-position", newest))
    with pytest.raises(IntegrityError):
        view.insert_tracking(Tracking("one-position", newest - 1))
    reference.close()
    for v in views:
        v.datastore.close()
