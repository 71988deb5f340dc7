"""The PostgreSQL recorder that reads a batch's aggregates in one query."""

from __future__ import annotations

import pytest

from adapters.bootstrap import build
from adapters.postgres_store import PostgresEventRecorder
from engine.config import Settings
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
