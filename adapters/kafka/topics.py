"""The event topic: created once with a fixed partition count, shared by relay and workers.

The partition count is part of the contract between relay and workers: the
workers track their position per partition, so changing it on a live topic
needs a rebuild of the worker read models (``carelog replay``) into a fresh topic.
"""

from __future__ import annotations

import ssl
from typing import Any

import structlog

__all__ = ["ensure_topic", "kafka_tls"]

log = structlog.get_logger(__name__)


def kafka_tls(ssl_context: ssl.SSLContext | None) -> dict[str, Any]:
    """aiokafka client keyword arguments for TLS to the brokers (none for plain text)."""
    if ssl_context is None:
        return {}
    return {"security_protocol": "SSL", "ssl_context": ssl_context}


async def ensure_topic(
    servers: str, topic: str, partitions: int, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Creates ``topic`` with ``partitions`` partitions unless it exists (over TLS with
    ``ssl_context``).

    Raises:
        aiokafka.errors.KafkaError: the broker cannot be reached.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(
        bootstrap_servers=servers, request_timeout_ms=10_000, **kafka_tls(ssl_context)
    )
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return
        # Three copies where the cluster has three brokers (one on a test broker).
        cluster = await admin.describe_cluster()
        replicas = max(1, min(3, len(cluster.get("brokers", ()))))
        try:
            await admin.create_topics(
                [NewTopic(topic, num_partitions=partitions, replication_factor=replicas)]
            )
            log.info("kafka.topic_created", topic=topic, partitions=partitions)
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()
