"""Fixtures for the Kafka tests: the broker `make test` starts, and a fresh topic each."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def topic() -> Iterator[str]:
    yield f"carelog-test-{uuid.uuid4().hex[:10]}"


async def _consume_all(servers: str, topic: str, expected: int, timeout: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        idle_rounds = 0
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            got = [r for rs in batches.values() for r in rs]
            records.extend(got)
            idle_rounds = 0 if got else idle_rounds + 1
            if len(records) >= expected and idle_rounds >= 2:  # and nothing more behind them
                break
    finally:
        await consumer.stop()
    return records


def consume_all(servers: str, topic: str, expected: int, timeout: float = 60) -> list[Any]:
    """Every record on ``topic`` from the beginning (waits for at least ``expected``)."""
    return asyncio.run(_consume_all(servers, topic, expected, timeout))
