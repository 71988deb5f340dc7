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
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Mapper, Tracking
from eventsourcing.projection import Projection

from adapters.kafka.codec import EventRecord, RecordError, decode_record
from projections.decoding import event_decoder

__all__ = ["ProjectionApplier", "create_worker_app", "tracking_name", "write_status"]

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
        # Decrypts when the mapper encrypts; an erased patient's record decodes to ERASED,
        # which no projection handles (only its position is recorded).
        self._decode = event_decoder(mapper)
        self.projections = list(projections)
        self.retry_s = retry_s
        self.applied = 0
        self.duplicates = 0
        self.stopping = threading.Event()
        # Where each partition is (highest store position handed to the views) and how
        # far behind the store the last round was: recorded time to applied time.
        self.positions: dict[int, int] = {}
        self.lag_s: float | None = None
        # The read model and event the worker is stuck on, retrying (None while it applies):
        # identifiers and class names only, for /health.
        self.stuck: dict[str, Any] | None = None

    def apply(self, record: EventRecord, partition: int) -> int:
        """Applies one record; see ``apply_batch``."""
        return self.apply_batch([(record, partition)])

    def apply_batch(self, items: Sequence[tuple[EventRecord, int]]) -> int:
        """Applies records (each with its partition) where not applied yet, in their order.

        Each projection takes its share in one view transaction (``view.batch()``)
        when it can; if that fails (a redelivered record among them, the
        database gone) the share is applied one by one. Returns how many
        (projection, event) pairs were applied.
        """
        decoded = [
            (
                record.stored.topic,
                Tracking(tracking_name(record.application, partition), record.notification_id),
                self._decode(record.stored),
            )
            for record, partition in items
        ]
        taken = 0
        for projection in self.projections:
            share = [(t, e) for topic, t, e in decoded if _wants(projection, topic)]
            if not share:
                continue
            batch = getattr(projection.view, "batch", None)
            if batch is not None and len(share) > 1:
                try:
                    with batch():
                        for tracking, event in share:
                            projection.process_event(event, tracking)
                except Exception:  # settle each on its own below
                    pass
                else:
                    taken += len(share)
                    self.applied += len(share)
                    self.stuck = None
                    continue
            for tracking, event in share:
                taken += self._apply_one(projection, event, tracking)
        for record, partition in items:
            position = self.positions.get(partition, 0)
            self.positions[partition] = max(position, record.notification_id)
        recorded = getattr(decoded[-1][2], "timestamp", None) if decoded else None
        if recorded is not None:
            self.lag_s = max(0.0, time.time() - recorded.timestamp())
        return taken

    def status(self) -> dict[str, Any]:
        """Counts, each partition's position and the last round's lag (health, logs)."""
        return {
            "applied": self.applied,
            "duplicates": self.duplicates,
            "positions": {str(p): n for p, n in sorted(self.positions.items())},
            "lag_s": None if self.lag_s is None else round(self.lag_s, 3),
        }

    def _apply_one(self, projection: Projection[Any], event: Any, tracking: Tracking) -> int:
        """One event into one projection; retried until done, as skipping breaks order."""
        while True:
            try:
                projection.process_event(event, tracking)
            except IntegrityError as e:
                if projection.view.has_tracking_id(
                    tracking.application_name, tracking.notification_id
                ):
                    self.duplicates += 1  # applied before: a redelivery
                    return 0
                # A constraint of the rows themselves, not the position: retried
                # like any failure (a visible stall, never a silent loss).
                self._failed(projection, tracking, e)
            except Exception as e:
                self._failed(projection, tracking, e)
            else:
                self.applied += 1
                self.stuck = None
                return 1

    def _failed(self, projection: Projection[Any], tracking: Tracking, error: Exception) -> None:
        if self.stopping.is_set():
            raise error
        if self.stuck is None or self.stuck["notification_id"] != tracking.notification_id:
            self.stuck = {
                "read_model": projection.name,
                "notification_id": tracking.notification_id,
                "partition": tracking.application_name.rpartition("#")[2],
                "error": type(error).__name__,
                "since": round(time.time(), 3),
            }
        log.warning(
            "worker.apply_failed",
            projection=projection.name,
            notification_id=tracking.notification_id,
            error=type(error).__name__,
        )
        time.sleep(self.retry_s)


def write_status(path: Path, status: dict[str, Any]) -> None:
    """The status as JSON, replaced whole (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps({**status, "at": time.time()}) + "\n")
    os.replace(partial, path)


def _wants(projection: Projection[Any], topic: str) -> bool:
    return not projection.topics or topic in projection.topics


def create_worker_app(
    *,
    servers: str,
    topic: str,
    group: str,
    partitions: int,
    applier: ProjectionApplier,
    heartbeat: str = "",
    datadir: str = "var/kafka-worker",
    ssl_context: Any = None,
) -> Any:
    """The faust app: one agent reading ``topic`` in consumer group ``group``.

    Its tables are in memory (the read models live in the database), but faust
    still creates ``datadir``; its default, ``<group>-data`` in the working
    directory, would litter wherever a worker is started.
    """
    import faust

    from adapters.kafka.topics import ensure_topic

    app = faust.App(
        group,
        broker=[f"kafka://{s.strip()}" for s in servers.split(",") if s.strip()],
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=200,
        broker_commit_interval=0.5,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=30.0,
        topic_partitions=partitions,
        # TLS to the brokers (CARELOG_KAFKA_TLS_CA, optional client certificate).
        broker_credentials=faust.SSLCredentials(ssl_context) if ssl_context else None,
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
        # Up to 500 records (or what arrived within 50 ms) per round: one view
        # transaction per projection. Offsets are acknowledged after the round.
        async for events in stream.take_events(500, within=0.05):
            items = []
            for event in events:
                message = event.message
                try:
                    items.append((decode_record(message.value, message.headers), message.partition))
                except RecordError as e:
                    log.error(
                        "worker.record_refused",
                        partition=message.partition,
                        offset=message.offset,
                        error=str(e),
                    )
            if items:
                await asyncio.to_thread(applier.apply_batch, items)

    @app.task
    async def announce() -> None:
        await ensure_topic(servers, topic, partitions, ssl_context)
        log.info("worker.ready", topic=topic, group=group)

    @app.timer(interval=5.0)
    async def report() -> None:
        status = applier.status()
        log.info("worker.progress", **status)
        if heartbeat:  # a container health check reads its age; people read its text
            write_status(Path(heartbeat), status)

    return app
