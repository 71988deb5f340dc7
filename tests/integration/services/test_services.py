"""Smoke tests for the PostgreSQL and Kafka that `make test` starts (.ci/services.sh).

They read the connection details from the environment that `make test` loads from
var/services/env, and FAIL (never skip) when it is missing: a run without the services
must not look green.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import defaultdict

import pytest


def _require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(
            f"{name} is not set: run the tests through `make test` (which runs "
            "`.ci/services.sh up` and loads var/services/env), or start the services with "
            "`make services-up` and `set -a; . var/services/env; set +a`",
            pytrace=False,
        )
    return value


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_round_trip() -> None:
    dsn = _require_env("CARELOG_TEST_POSTGRES_DSN")
    import psycopg
    from psycopg.types.json import Jsonb

    rows = [(1, "ADT^A01", {"mrn": "123"}), (2, "ORU^R01", {"mrn": "456", "ñ": "é"})]
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), current_setting('server_encoding')")
            assert cur.fetchone() == (_require_env("CARELOG_TEST_POSTGRES_DB"), "UTF8")
            cur.execute(
                "CREATE TEMP TABLE svc_smoke (id int PRIMARY KEY, kind text NOT NULL, body jsonb)"
            )
            cur.executemany(
                "INSERT INTO svc_smoke (id, kind, body) VALUES (%s, %s, %s::jsonb)",
                [(i, kind, Jsonb(body)) for i, kind, body in rows],
            )
            cur.execute("SELECT id, kind, body FROM svc_smoke ORDER BY id")
            assert cur.fetchall() == rows
        conn.rollback()

    # The discrete parts agree with the DSN.
    parts = {
        key: _require_env(f"CARELOG_TEST_POSTGRES_{key.upper()}")
        for key in ("host", "port", "user", "db")
    }
    with psycopg.connect(
        host=parts["host"],
        port=int(parts["port"]),
        user=parts["user"],
        dbname=parts["db"],
        connect_timeout=10,
    ) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)


# --------------------------------------------------------------------------- Kafka

KEYS = [b"patient-1", b"patient-2", b"patient-3", b"patient-4", b"patient-5"]
PER_KEY = 20


async def _kafka_round_trip(bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.structs import TopicPartition

    topic = f"carelog-svc-smoke-{uuid.uuid4().hex[:12]}"
    group = f"carelog-svc-smoke-{uuid.uuid4().hex[:12]}"

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15_000,
    )
    await producer.start()
    try:
        futures = []
        for seq in range(PER_KEY):
            for key in KEYS:
                value = f"{key.decode()}:{seq}".encode()
                futures.append(await producer.send(topic, key=key, value=value))
        for metadata in await asyncio.gather(*futures):
            assert metadata.topic == topic
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=15_000,
    )
    await consumer.start()
    received: dict[bytes, list[int]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    try:
        total = len(KEYS) * PER_KEY
        count = 0
        while count < total:
            batches = await consumer.getmany(timeout_ms=1_000)
            for tp, messages in batches.items():
                for msg in messages:
                    assert msg.key is not None and msg.value is not None
                    name, seq = msg.value.decode().rsplit(":", 1)
                    assert name.encode() == msg.key
                    received[msg.key].append(int(seq))
                    partitions[msg.key].add(tp.partition)
                    count += 1
        await consumer.commit()
        committed = {
            p: await consumer.committed(TopicPartition(topic, p))
            for p in consumer.partitions_for_topic(topic) or ()
        }
    finally:
        await consumer.stop()

    expected = {key: list(range(PER_KEY)) for key in KEYS}
    assert dict(received) == expected, "messages lost, duplicated or reordered within a key"
    assert all(len(p) == 1 for p in partitions.values()), partitions
    assert sum(offset or 0 for offset in committed.values()) == len(KEYS) * PER_KEY


@pytest.mark.kafka
def test_kafka_keyed_round_trip() -> None:
    bootstrap = _require_env("CARELOG_TEST_KAFKA")
    asyncio.run(asyncio.wait_for(_kafka_round_trip(bootstrap), timeout=90))
