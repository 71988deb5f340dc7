"""`carelog worker`: the read models, built from the event topic by faust-streaming.

Each record is mapped back to its domain event with the application's mapper
and given to the SAME projection code as in-process (``process_event`` with a
Tracking), writing to the read models in PostgreSQL. The tracking row is
written in the transaction that writes the rows, so a redelivered record
fails with IntegrityError and is treated as done: exactly-once in effect.

Tracking is per partition. eventsourcing's tracking tables keep one row per
name holding the highest position applied, and refuse anything not above it.
Records of different partitions interleave out of global store order, so one
row for the whole topic would refuse (and lose) an older event of another
partition. Within a partition, records arrive in store order (the relay
publishes in that order, one patient per key), so the name
``<application>#<partition>`` gives each partition its own increasing
position. The consumer group splits partitions across workers; Kafka offsets
are committed after the rows, and anything redelivered after a crash or a
rebalance is deduplicated by that tracking.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Mapper, Tracking
from eventsourcing.projection import Projection

from adapters.kafka.codec import EventRecord, RecordError, decode_record

__all__ = ["ProjectionApplier", "create_worker_app", "tracking_name"]

log = structlog.get_logger(__name__)


def tracking_name(application: str, partition: int) -> str:
    """The tracking name of one partition's position (see the module docstring)."""
    return f"{application}#{partition}"


class ProjectionApplier:
    """Applies event records to every projection; blocking, so called from a thread."""

    def __init__(
        self, mapper: Mapper[Any], projections: Sequence[Projection[Any]], retry_s: float = 1.0
    ) -> None:
        self.mapper = mapper
        self.projections = list(projections)
        self.retry_s = retry_s
        self.applied = 0
        self.duplicates = 0
        self.stopping = threading.Event()

    def apply(self, record: EventRecord, partition: int) -> int:
        """Applies ``record`` where it was not applied yet; returns how many projections took it.

        A failure other than a duplicate (the database is down) is retried
        until it succeeds: skipping would break the partition's order.
        """
        event = self.mapper.to_domain_event(record.stored)
        tracking = Tracking(tracking_name(record.application, partition), record.notification_id)
        taken = 0
        for projection in self.projections:
            if projection.topics and record.stored.topic not in projection.topics:
                continue
            while True:
                try:
                    projection.process_event(event, tracking)
                except IntegrityError as e:
                    if projection.view.has_tracking_id(
                        tracking.application_name, tracking.notification_id
                    ):
                        self.duplicates += 1  # applied before: a redelivery
                        break
                    # A constraint of the rows themselves, not the position: retried
                    # like any failure (a visible stall, never a silent loss).
                    self._failed(projection, record, e)
                    continue
                except Exception as e:
                    self._failed(projection, record, e)
                    continue
                else:
                    taken += 1
                    self.applied += 1
                break
        return taken

    def _failed(self, projection: Projection[Any], record: EventRecord, error: Exception) -> None:
        if self.stopping.is_set():
            raise error
        log.warning(
            "worker.apply_failed",
            projection=projection.name,
            notification_id=record.notification_id,
            error=type(error).__name__,
        )
        time.sleep(self.retry_s)


def create_worker_app(
    *,
    servers: str,
    topic: str,
    group: str,
    partitions: int,
    applier: ProjectionApplier,
    heartbeat: str = "",
) -> Any:
    """The faust app: one agent reading ``topic`` in consumer group ``group``."""
    import faust

    from adapters.kafka.topics import ensure_topic

    app = faust.App(
        group,
        broker=[f"kafka://{s.strip()}" for s in servers.split(",") if s.strip()],
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=200,
        broker_commit_interval=0.5,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=30.0,
        topic_partitions=partitions,
    )
    source = app.topic(
        topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )

    @app.agent(source)
    async def project(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                record = decode_record(message.value, message.headers)
            except RecordError as e:
                log.error(
                    "worker.record_refused",
                    partition=message.partition,
                    offset=message.offset,
                    error=str(e),
                )
                continue
            await asyncio.to_thread(applier.apply, record, message.partition)

    @app.task
    async def announce() -> None:
        await ensure_topic(servers, topic, partitions)
        log.info("worker.ready", topic=topic, group=group)

    @app.timer(interval=5.0)
    async def report() -> None:
        log.info("worker.progress", applied=applier.applied, duplicates=applier.duplicates)
        if heartbeat:  # a container health check reads its age
            Path(heartbeat).touch()

    return app
