"""The PostgreSQL recorder: reads a batch's aggregates in one query, inserts in one round trip."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import Environment

from adapters import postgres_store
from adapters.bootstrap import build, build_view
from adapters.postgres_store import PostgresEventRecorder
from engine.config import Settings
from projections.audit import Sealer
from projections.catalog import CATALOG
from tests.fakes import FakeMessageValidator
from tests.scale import corpus

pytestmark = pytest.mark.postgres


def test_bulk_read_equals_one_read_per_aggregate(postgres_url: str) -> None:
    engine = build(Settings(store=postgres_url), validator=FakeMessageValidator())
    recorder = engine.ingestion.recorder
    assert isinstance(recorder, PostgresEventRecorder)
    for story in corpus(35):
        assert {o.ack_code for o in engine.ingestion.ingest_many([(m, "t") for m in story])} == {
            "AA"
        }
    ids = sorted({n.originator_id for n in recorder.select_notifications(1, 1000)}, key=str)
    expected = [e for i in ids for e in recorder.select_events(i)]
    got = recorder.select_events_many(ids)
    assert sorted(got, key=lambda e: (str(e.originator_id), e.originator_version)) == sorted(
        expected, key=lambda e: (str(e.originator_id), e.originator_version)
    )
    assert recorder.select_events_many([]) == []
    head, stored = recorder.select_head_and_events(ids)
    assert head == recorder.max_notification_id()
    assert sorted(stored, key=lambda e: (str(e.originator_id), e.originator_version)) == sorted(
        expected, key=lambda e: (str(e.originator_id), e.originator_version)
    )
    assert recorder.select_head_and_events([]) == (head, [])
    engine.close()


def _recorder(postgres_url: str) -> tuple[Any, PostgresEventRecorder]:
    engine = build(Settings(store=postgres_url), validator=FakeMessageValidator())
    recorder = engine.ingestion.recorder
    assert isinstance(recorder, PostgresEventRecorder)
    return engine, recorder


def _events(originator_id: UUID, versions: range) -> list[StoredEvent]:
    return [StoredEvent(originator_id, v, "t", bytes([v % 256, 0, 255])) for v in versions]


def _key(event: StoredEvent) -> tuple[str, int]:
    return str(event.originator_id), event.originator_version


def test_insert_returns_the_ids_it_stored_and_a_conflict_stores_nothing(
    postgres_url: str,
) -> None:
    engine, recorder = _recorder(postgres_url)
    a, b = uuid4(), uuid4()
    first = _events(a, range(1, 4))
    ids = recorder.insert_events(first)
    assert ids == [n.id for n in recorder.select_notifications(1, 10)]
    assert [
        (n.originator_id, n.originator_version, n.state)
        for n in recorder.select_notifications(1, 10)
    ] == [(e.originator_id, e.originator_version, e.state) for e in first]
    with pytest.raises(IntegrityError):  # b's new event goes with a's existing version 2
        recorder.insert_events([*_events(b, range(1, 2)), first[1]])
    assert recorder.select_events(b) == []
    # The failed transaction left no lock and no open transaction behind.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '1s'")
            conn.execute("LOCK TABLE carelog_events IN EXCLUSIVE MODE")
        idle = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"
        ).fetchone()
        assert idle == (0,)
    later = recorder.insert_events(_events(b, range(1, 3)))
    assert later is not None and len(later) == 2 and later[0] > ids[-1]
    assert later == [n.id for n in recorder.select_notifications(ids[-1] + 1, 10)]
    assert recorder.insert_events([]) is None
    engine.close()


def test_concurrent_inserts_get_consecutive_ids_in_commit_order(postgres_url: str) -> None:
    engine, recorder = _recorder(postgres_url)
    returned: list[list[int]] = []
    lock = threading.Lock()

    def write(batches: int) -> None:
        for _ in range(batches):
            got = recorder.insert_events(_events(uuid4(), range(1, 6)))
            assert got is not None
            with lock:
                returned.append(list(got))

    threads = [threading.Thread(target=write, args=(20,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(returned) == 80
    for got in returned:  # the table lock: one batch's ids are not interleaved with another's
        assert got == list(range(got[0], got[0] + 5))
    stored = recorder.select_notifications(1, 1000)
    assert sorted(i for got in returned for i in got) == [n.id for n in stored]
    by_id = {n.id: n for n in stored}
    for got in returned:  # each batch's ids are its own rows, in the order given
        assert [by_id[i].originator_version for i in got] == [1, 2, 3, 4, 5]
        assert len({by_id[i].originator_id for i in got}) == 1
    engine.close()


def test_insert_notifies_the_channel_listeners_wait_on(postgres_url: str) -> None:
    engine, recorder = _recorder(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f'LISTEN "{recorder.channel_name}"')
        recorder.insert_events(_events(uuid4(), range(1, 2)))
        heard = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in heard] == [recorder.channel_name]
    engine.close()


def test_head_and_events_in_chunks_equal_one_statement(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, recorder = _recorder(postgres_url)
    ids = [uuid4() for _ in range(5)]
    for i in ids:
        recorder.insert_events(_events(i, range(1, 4)))
    one = recorder.select_head_and_events(ids)
    monkeypatch.setattr(postgres_store, "_CHUNK", 2)  # the path for very large batches
    chunked = recorder.select_head_and_events(ids)
    assert chunked[0] == one[0]
    assert sorted(chunked[1], key=_key) == one[1]  # each chunk in order; chunks in any order
    assert one[0] == recorder.max_notification_id()
    assert sorted(one[1], key=_key) == one[1]  # grouped by aggregate, in version order
    assert {e.originator_id for e in one[1]} == set(ids) and len(one[1]) == 15
    engine.close()


def test_processes_starting_together_create_the_schema_in_turn(postgres_url: str) -> None:
    """Eight starts at one moment, on an empty database then on a made one: none fails.

    Without the schema lock, several starts of each run failed here with "tuple
    concurrently updated" (CREATE OR REPLACE FUNCTION, every start) or a
    duplicate pg_type key (CREATE TYPE / TABLE, the first start).
    """
    settings = Settings(store=postgres_url)
    env = {
        **settings.eventsourcing_env(),
        "PERSISTENCE_MODULE": postgres_store.FACTORY_TOPIC,
        "APPLICATION_RECORDER_TOPIC": postgres_store.RECORDER_TOPIC,
    }
    specs = list(CATALOG)
    errors: list[str] = []

    def start(barrier: threading.Barrier, i: int) -> None:
        try:
            barrier.wait()
            if i % 2 == 0:
                factory = postgres_store.PostgresFactory(Environment("carelog", env))
                recorder = factory.application_recorder()
                assert isinstance(recorder, PostgresEventRecorder)
                Sealer(recorder, None)
                factory.datastore.close()
            else:
                view = build_view(specs[i % len(specs)], settings, env)
                assert view.max_tracking_id(specs[i % len(specs)].name) is None
                view.datastore.close()
        except Exception as e:  # collected: the assertion below names every failure
            errors.append(f"start {i}: {type(e).__name__}: {e}")

    for _ in range(6):
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=start, args=(barrier, i)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
