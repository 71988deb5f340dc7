"""The writer's hand-over: projections and seals fed from memory are the store's, exactly.

The runner and the sealer take a commit's recordings from memory when they
continue exactly from where they are, and read the store for anything else.
These tests hold the memory path to the store path (the same rows, the same
seals), show that it really skips the store, and that a gap, a full queue or
events offered twice fall back or are ignored without loss or duplicates.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Recording

from adapters.bootstrap import Engine, build, build_view, hand_over
from engine.config import Settings
from projections.audit import Sealer, verify
from projections.catalog import CATALOG
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario
from tests.integration.audit.helpers import dump_sqlite
from tests.integration.read_models import billing_scenario
from tests.scenario import STAY

MESSAGES = [*STAY, *visit_scenario.ALL, *billing_scenario.MESSAGES]


def _engine(store_url: str) -> tuple[Engine, list[Recording[Any]]]:
    """An engine whose every commit's recordings are kept, in commit order."""
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    recordings: list[Recording[Any]] = []
    engine.ingestion.on_recorded = recordings.extend
    return engine, recordings


def _runner(engine: Engine, db: Path, **kwargs: Any) -> PollingProjectionRunner:
    """A runner over every catalog read model in its own SQLite file ``db``."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)}
    views = [build_view(spec, engine.settings, env) for spec in CATALOG]
    projections = [spec.project(view) for spec, view in zip(CATALOG, views, strict=True)]
    return PollingProjectionRunner(engine.ingestion, *projections, **kwargs)


def _close(runner: PollingProjectionRunner) -> None:
    for projection in runner.projections:
        projection.view.datastore.close()


def _dump(db: Path) -> dict[str, Any]:
    return {spec.key: dump_sqlite(db, spec) for spec in CATALOG}


class _CountingReads:
    """Counts the recorder's ``select_notifications`` calls (the store path)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, recorder: Any) -> None:
        self.calls = 0
        original = recorder.select_notifications

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(recorder, "select_notifications", counted)


def test_handed_over_events_give_the_store_paths_rows_without_reading_the_store(
    durable_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, recordings = _engine(durable_store_url)  # read models in SQLite files below
    handed = _runner(engine, tmp_path / "handed.db")
    reads = _CountingReads(monkeypatch, engine.ingestion.recorder)
    for message in MESSAGES:  # as in `serve`: a round after each commit
        del recordings[:]
        engine.ingestion.ingest(message, "test")
        handed.offer(recordings)
        handed.catch_up()
    head = engine.ingestion.recorder.max_notification_id()
    assert reads.calls == 0, "every event came from the hand-over"
    assert handed.handed_over == head
    assert handed.position == head
    monkeypatch.undo()
    stored = _runner(engine, tmp_path / "stored.db")
    stored.catch_up()
    assert stored.handed_over == 0
    expected = _dump(tmp_path / "stored.db")
    assert all(any(rows for rows in tables.values()) for tables in expected.values())
    assert _dump(tmp_path / "handed.db") == expected
    _close(handed)
    _close(stored)
    engine.close()


def test_a_gap_a_full_queue_and_events_offered_twice_fall_back_to_the_store(
    tmp_path: Path,
) -> None:
    engine, recordings = _engine(f"sqlite:///{tmp_path / 'carelog.db'}")
    # At most 3 recordings kept: a larger commit loses its oldest ones (a gap).
    handed = _runner(engine, tmp_path / "handed.db", handover_limit=3)
    third = len(MESSAGES) // 3
    for message in MESSAGES[:third]:  # committed while nobody handed them over
        engine.ingestion.ingest(message, "test")
    del recordings[:]
    for message in MESSAGES[third : 2 * third]:
        engine.ingestion.ingest(message, "test")
    handed.offer(recordings)  # more than 3: only the last 3 are kept
    assert handed.catch_up() > 0
    assert handed.handed_over == 0, "after the gap everything came from the store"
    head = engine.ingestion.recorder.max_notification_id()
    assert handed.position == head
    handed.offer(recordings)  # offered again: all already seen, ignored
    assert handed.catch_up() == 0
    small = 0
    for message in MESSAGES[2 * third :]:  # commit by commit: those of up to 3 from memory
        del recordings[:]
        engine.ingestion.ingest(message, "test")
        handed.offer(recordings)
        handed.catch_up()
        small += len(recordings) if len(recordings) <= 3 else 0
    assert handed.handed_over == small > 0
    assert handed.position == engine.ingestion.recorder.max_notification_id() > head + small
    stored = _runner(engine, tmp_path / "stored.db")
    stored.catch_up()
    assert _dump(tmp_path / "handed.db") == _dump(tmp_path / "stored.db")
    _close(handed)
    _close(stored)
    engine.close()


def test_handed_over_records_get_the_store_paths_seals(durable_store_url: str) -> None:
    engine, recordings = _engine(durable_store_url)
    assert engine.sealer is not None
    handed = Sealer(engine.ingestion.recorder, b"seal key")
    half = len(MESSAGES) // 2
    for message in MESSAGES[:half]:
        del recordings[:]
        engine.ingestion.ingest(message, "test")
        handed.offer(recordings)
        handed.seal()
    for message in MESSAGES[half:]:
        del recordings[:]
        engine.ingestion.ingest(message, "test")
    handed.offer(recordings)  # only the last commit's: a gap, sealed from the store
    handed.seal()
    head = engine.ingestion.recorder.max_notification_id()
    first_half = handed.handed_over
    assert 0 < first_half < head
    from_memory = handed.seals_between(1, head)
    assert len(from_memory) == head
    with engine.ingestion.recorder.datastore.transaction(commit=True) as c:
        c.execute(f"DELETE FROM {handed.table}")
    from_store = Sealer(engine.ingestion.recorder, b"seal key")
    assert from_store.seal() == head
    assert from_store.handed_over == 0
    assert from_store.seals_between(1, head) == from_memory
    app = engine.ingestion
    holes = engine.settings.backend == "postgres"
    assert verify(app.recorder, app.mapper, from_store, holes_allowed=holes).intact
    engine.close()


def test_serves_hand_over_feeds_only_readers_that_run_in_this_process(tmp_path: Path) -> None:
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
    )
    assert engine.sealer is not None
    engine.ingestion.on_recorded = hand_over(engine)
    engine.projecting = False  # another process holds the projection lease
    engine.ingestion.ingest(MESSAGES[0], "test")
    engine.projecting = True
    engine.runner.catch_up()  # not handed over (nor the sealer's: not started)
    assert engine.runner.handed_over == 0
    engine.sealer.start(poll_interval_s=60, min_interval_s=60)
    first = engine.ingestion.recorder.max_notification_id()
    deadline = time.monotonic() + 10
    while engine.sealer.last_seal()[0] < first:  # its first round (from the store) is done
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for message in MESSAGES[1:]:
        engine.ingestion.ingest(message, "test")
    engine.runner.catch_up()
    engine.sealer.stop()  # seals the rest
    head = engine.ingestion.recorder.max_notification_id()
    assert engine.runner.handed_over > 0
    assert engine.runner.position == head
    assert engine.sealer.handed_over == head - first > 0
    assert engine.sealer.seals_between(1, head).keys() == set(range(1, head + 1))
    engine.close()
