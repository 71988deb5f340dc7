"""The Kafka topic carries the stored ciphertext; the keys decode it, an erasure blanks it."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest

from adapters.bootstrap import build
from adapters.kafka.codec import decode_record
from engine.config import Settings
from projections.decoding import ERASED, event_decoder
from tests.integration.crypto.canary import Canary
from tests.integration.kafka.conftest import consume_all
from tests.integration.kafka.test_relay import publish_until

pytestmark = [pytest.mark.kafka, pytest.mark.native]


def test_the_topic_carries_the_stored_ciphertext(
    durable_store_url: str, kafka_servers: str, topic: str
) -> None:
    settings = replace(Settings(store=durable_store_url), kafka=kafka_servers, kafka_topic=topic)
    engine = build(settings)
    try:
        gone, kept = Canary.new(), Canary.new()
        for canary in (gone, kept):
            assert engine.ingestion.ingest(canary.a01()).ack_code == "AA"
        head = engine.ingestion.recorder.max_notification_id() or 0
        publish_until(engine, head)
        records = consume_all(kafka_servers, topic, head)
        assert len(records) == head
        for r in records:
            assert gone.found_in(r.value) == [] and kept.found_in(r.value) == []
        # A worker decodes them with the keys; an erased patient's decode to nothing.
        decode = event_decoder(engine.ingestion.mapper)
        events = [decode(decode_record(r.value, r.headers).stored) for r in records]
        families = {e.name.family for e in events if hasattr(e, "name")}
        assert families == {gone.family, kept.family}
        patient = next(
            e for e in events if getattr(e, "name", None) and e.name.family == gone.family
        )
        engine.ingestion.mapper.keyring.forget([UUID(str(patient.originator_id)).hex])  # type: ignore[attr-defined]
        events = [decode(decode_record(r.value, r.headers).stored) for r in records]
        assert sum(e is ERASED for e in events) == 3
        assert {e.name.family for e in events if hasattr(e, "name")} == {kept.family}
    finally:
        engine.close()
