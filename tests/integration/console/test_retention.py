"""Retention reclaims disk: old rejected messages leave the store, history and seals stay intact."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.utils import get_topic

from adapters.bootstrap import Engine, build
from adapters.retention import (
    prune_messages,
    reclaim_postgres,
    reclaim_sqlite,
    retention_loop,
    store_bytes,
)
from engine.config import Settings
from engine.domain.message import InboundMessage
from engine.domain.rejected import RejectedMessage
from projections.audit import verify
from tests.fakes import FakeMessageValidator
from tests.messages import adt

_REJECTED = get_topic(RejectedMessage.Recorded)
_RECEIVED = get_topic(InboundMessage.Received)


def _engine(store_url: str) -> Engine:
    return build(Settings(store=store_url), validator=FakeMessageValidator())


def _refused(n: int, visit: str) -> bytes:
    """An A02 for a visit nobody admitted (AE), with a bulky note so deleting it shows."""
    note = f"NTE|1||{'retention padding ' * 200}{n}\r"
    return adt("A02", f"R{visit}{n}", visit=visit, mrn=f"M{visit}{n}") + note.encode()


def _topics(engine: Engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in engine.ingestion.recorder.select_notifications(1, 100_000):
        counts[record.topic] = counts.get(record.topic, 0) + 1
    return counts


def _verify(engine: Engine, postgres: bool) -> object:
    assert engine.sealer is not None
    engine.sealer.seal()
    return verify(
        engine.ingestion.recorder, engine.ingestion.mapper, engine.sealer, holes_allowed=postgres
    )


def test_prune_deletes_old_rejected_messages_and_reclaims_space(durable_store_url: str) -> None:
    postgres = durable_store_url.startswith("postgres")
    engine = _engine(durable_store_url)
    try:
        ingest = engine.ingestion.ingest
        assert ingest(adt("A01", "A1", visit="KEEP", mrn="KEEPME"), "t").ack_code == "AA"
        old = [ingest(_refused(n, "OLD"), "t") for n in range(300)]
        assert {r.ack_code for r in old} == {"AE"}
        engine.runner.catch_up()
        assert engine.sealer is not None
        engine.sealer.seal()
        cutoff = datetime.now(UTC)
        young = ingest(_refused(0, "NEW"), "t")
        assert ingest(adt("A08", "A2", visit="KEEP", mrn="KEEPME"), "t").ack_code == "AA"
        engine.runner.catch_up()
        before = _topics(engine)
        assert before[_REJECTED] == 301
        size_before = (
            store_bytes(Settings(store=durable_store_url).sqlite_path())[0] if not postgres else 0
        )

        result = prune_messages(engine, cutoff)

        assert result.rejected_deleted == 300
        after = _topics(engine)
        assert after[_REJECTED] == 1  # the young one
        assert after[_RECEIVED] == before[_RECEIVED]  # accepted messages untouched
        domain = {t: n for t, n in before.items() if t not in (_REJECTED,)}
        assert {t: n for t, n in after.items() if t != _REJECTED} == domain
        assert engine.ingestion.current(UUID(str(old[0].rejected_id))) is None
        assert engine.ingestion.current(UUID(str(young.rejected_id))) is not None
        log = engine.views["messages"]
        assert log.entry(str(old[0].rejected_id)) is None
        assert log.entry(str(young.rejected_id)) is not None
        assert engine.patients.find_by_identifier("KEEPME", "HOSP")  # domain read model

        report = _verify(engine, postgres)
        assert report.intact, report.faults[:3]  # type: ignore[attr-defined]
        assert report.pruned == 300  # type: ignore[attr-defined]
        # A second run finds nothing more to delete.
        assert prune_messages(engine, cutoff).rejected_deleted == 0

        if postgres:
            grown, shrunk = reclaim_postgres(engine, full=True)
            assert shrunk < grown
    finally:
        engine.close()
    if not postgres:
        path = Settings(store=durable_store_url).sqlite_path()
        grown, shrunk = reclaim_sqlite(path)
        assert grown >= size_before
        assert shrunk < grown - 300 * 2000  # at least the notes' bytes went back
        engine = _engine(durable_store_url)
        try:
            assert _verify(engine, postgres).intact  # type: ignore[attr-defined]
        finally:
            engine.close()


def test_verify_still_reports_a_deleted_record_retention_did_not_register(
    durable_store_url: str,
) -> None:
    postgres = durable_store_url.startswith("postgres")
    engine = _engine(durable_store_url)
    try:
        ingest = engine.ingestion.ingest
        assert ingest(adt("A01", "A1", visit="KEEP"), "t").ack_code == "AA"
        refused = ingest(_refused(1, "OLD"), "t")
        assert ingest(adt("A08", "A2", visit="KEEP"), "t").ack_code == "AA"
        engine.runner.catch_up()
        prune_messages(engine, datetime.now(UTC))
        assert _verify(engine, postgres).intact  # type: ignore[attr-defined]
        assert engine.views["messages"].entry(str(refused.rejected_id)) is None

        recorder = engine.ingestion.recorder
        first = recorder.select_notifications(1, 1)[0]
        assert first.topic == _RECEIVED
        table = recorder.events_table_name
        column = "notification_id" if postgres else "rowid"
        with recorder.datastore.transaction(commit=True) as c:  # an accepted message deleted
            c.execute(f"DELETE FROM {table} WHERE {column} = {first.id}")
        report = verify(recorder, engine.ingestion.mapper, engine.sealer, holes_allowed=postgres)
        assert not report.intact
        assert [f.kind for f in report.faults if f.position == first.id] == ["deleted"]
    finally:
        engine.close()


def test_serve_s_retention_loop_prunes_until_stopped(durable_store_url: str) -> None:
    engine = _engine(durable_store_url)
    try:
        ingest = engine.ingestion.ingest
        assert ingest(adt("A01", "A1", visit="KEEP"), "t").ack_code == "AA"
        refused = ingest(_refused(1, "OLD"), "t")
        assert ingest(adt("A08", "A2", visit="KEEP"), "t").ack_code == "AA"
        engine.runner.catch_up()
        later = datetime.now(UTC) + timedelta(days=3)  # as if three days had passed

        async def run() -> bool:
            stop = asyncio.Event()
            loop = asyncio.create_task(
                retention_loop(engine, stop, 2, first_after_s=0, every_s=0.05, now=lambda: later)
            )
            deadline = time.monotonic() + 10
            gone = False
            while not gone and time.monotonic() < deadline:  # bounded wait on the store
                await asyncio.sleep(0.05)
                gone = engine.ingestion.current(UUID(str(refused.rejected_id))) is None
            stop.set()
            await asyncio.wait_for(loop, 10)
            return gone

        assert asyncio.run(run())
        assert _topics(engine)[_RECEIVED] == 2
    finally:
        engine.close()
