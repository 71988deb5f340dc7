"""The outbox relay against the real broker: store order, patient keys, restart without loss."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import replace
from uuid import UUID

import pytest

from adapters.bootstrap import Engine, build
from adapters.kafka.codec import decode_record
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier
from tests.fakes import FakeMessageValidator
from tests.integration.kafka.conftest import consume_all
from tests.scale import corpus

pytestmark = pytest.mark.kafka


def engine_for(store: str, servers: str, topic: str) -> Engine:
    settings = replace(Settings(store=store), kafka=servers, kafka_topic=topic, kafka_partitions=3)
    return build(settings, validator=FakeMessageValidator())


def ingest(engine: Engine, stories: list[list[bytes]]) -> int:
    for story in stories:
        outcomes = engine.ingestion.ingest_many([(m, "t") for m in story])
        assert {o.ack_code for o in outcomes} == {"AA"}
    return engine.ingestion.recorder.max_notification_id() or 0


def publish_until(engine: Engine, head: int, timeout: float = 30) -> None:
    relay = engine.relay
    assert relay is not None

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while relay.last_published < head and loop.time() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(main())
    assert relay.last_published == head, relay.error


def test_relay_publishes_in_store_order_and_resumes_after_restart(
    durable_store_url: str, kafka_servers: str, topic: str
) -> None:
    stories = corpus(140)  # 20 patients, 7 messages each
    first = engine_for(durable_store_url, kafka_servers, topic)
    # Admissions first; the visits' later events come after the restart, when the
    # new relay must find their patient from the store (its key cache is empty).
    head1 = ingest(first, [story[:2] for story in stories[:10]])
    publish_until(first, head1)
    first.close()

    # A new process on the same store: starts from the recorded position.
    second = engine_for(durable_store_url, kafka_servers, topic)
    head2 = ingest(second, [story[2:] for story in stories[:10]] + stories[10:])
    assert head2 > head1
    publish_until(second, head2)
    assert second.relay is not None and second.relay.published == head2 - head1
    notifications = second.ingestion.recorder.select_notifications(1, head2)
    topics = {n.id: n.topic for n in notifications}
    patient3 = patient_id_for(Identifier("P000003", "HOSP", "MR"))
    owned = {patient3}
    for n in notifications:
        event = second.ingestion.mapper.to_domain_event(n)
        if getattr(event, "patient_id", None) == patient3:
            owned.add(event.originator_id)
    of_patient3 = {n.id for n in notifications if n.originator_id in owned}
    second.close()

    records = consume_all(kafka_servers, topic, head2)
    ids = [decode_record(r.value, r.headers).notification_id for r in records]
    assert sorted(ids) == list(range(1, head2 + 1)), "lost or repeated events"
    by_partition: dict[int, list[int]] = defaultdict(list)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for r in records:
        record = decode_record(r.value, r.headers)
        assert record.application == "carelog"
        assert record.stored.topic == topics[record.notification_id]
        by_partition[r.partition].append(record.notification_id)
        partitions_of_key[r.key].add(r.partition)
    for partition_ids in by_partition.values():
        assert partition_ids == sorted(partition_ids), "store order broken within a partition"
    assert len(by_partition) > 1, "every key landed on one partition"

    # Every event of a patient's aggregates (visit, report, account) carries the patient's key.
    patient = str(patient3).encode()
    keyed = [decode_record(r.value, r.headers).stored.topic for r in records if r.key == patient]
    assert {
        decode_record(r.value, r.headers).notification_id for r in records if r.key == patient
    } == of_patient3
    assert {t.rsplit(":", 1)[1].split(".")[0] for t in keyed} == {
        "Patient",
        "Encounter",
        "LabReport",
        "Account",
    }
    assert all(len(p) == 1 for p in partitions_of_key.values())
    assert all(UUID(k.decode()) for k in partitions_of_key)
