"""The outbox relay: every stored event, in store order, to one Kafka topic.

The event store is the outbox: the relay reads the notification log from the
last position it recorded, publishes each event (idempotent producer,
``acks=all``) keyed by its patient, waits until the broker has acknowledged
the whole batch, and only then records the batch's last position in a
tracking table of the same store. A crash between publish and record
re-publishes at most that batch (consumers deduplicate on the position); it
never skips an event. A broker outage stalls the relay, never ingestion.

Keys (so one patient's events share a partition, in store order):
- Patient events: the patient id (the aggregate id; a merge is keyed by the
  retired patient, whose event it is).
- Events whose aggregate belongs to a patient (Encounter, LabReport,
  Account): their ``patient_id``, read from the creating event or, for later
  events, from the aggregate (cached).
- InboundMessage events: the message id. They carry no patient and no read
  model orders them against patient events; every other event names its
  source message id.

With several ``carelog serve`` processes on one PostgreSQL database only the
holder of the relay lease publishes (see ``lease.py``); the others wait, and
take over when it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, cast
from uuid import UUID

import structlog
from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification, Tracking, TrackingRecorder
from eventsourcing.utils import get_topic

from adapters.kafka.codec import encode_notification
from engine.domain.message import InboundMessage
from engine.domain.patient import Patient
from projections.decoding import ERASED, event_decoder

__all__ = ["OutboxRelay", "PatientKeys", "RelayPosition"]

log = structlog.get_logger(__name__)


class Lease(Protocol):
    """Who may publish: one relay per store and topic."""

    def acquire(self) -> bool: ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


class RelayPosition:
    """The last published notification id, kept in a tracking table of the event store."""

    def __init__(self, recorder: TrackingRecorder, name: str) -> None:
        self.recorder = recorder
        self.name = name  # e.g. "carelog>carelog.events": one position per topic

    def get(self) -> int:
        return self.recorder.max_tracking_id(self.name) or 0

    def record(self, notification_id: int) -> None:
        self.recorder.insert_tracking(Tracking(self.name, notification_id))


class PatientKeys:
    """The partition key of each event: its patient's id (see the module docstring)."""

    def __init__(self, app: Application[Any], cache_size: int = 100_000) -> None:
        self.app = app
        self.cache_size = cache_size
        self._owners: OrderedDict[UUID, UUID] = OrderedDict()
        self.decode = event_decoder(app.mapper)  # decrypts; ERASED for an erased patient

    def key_for(self, event: Any) -> UUID:
        """The key of a decoded event."""
        originator = event.originator_id
        if isinstance(event, (Patient.Event, InboundMessage.Event)):
            return UUID(str(originator))
        patient = getattr(event, "patient_id", None)
        if patient is None:
            patient = self._owners.get(originator)
        if patient is None:
            aggregate: Any = self.app.repository.get(originator, version=event.originator_version)
            patient = getattr(aggregate, "patient_id", None) or originator
        self._remember(originator, patient)
        return UUID(str(patient))

    def key_of(self, notification: Notification) -> UUID:
        """The key of a stored event, decoding it only when its topic does not tell."""
        originator = UUID(str(notification.originator_id))
        if notification.topic.startswith(_SELF_KEYED):
            return originator
        owner = self._owners.get(originator)
        if owner is not None:
            self._owners.move_to_end(originator)
            return UUID(str(owner))
        event = self.decode(notification)
        if event is ERASED:  # an erased patient's record: its own id keeps it in order
            return originator
        return self.key_for(event)

    def _remember(self, aggregate_id: UUID, patient_id: UUID) -> None:
        self._owners[aggregate_id] = patient_id
        self._owners.move_to_end(aggregate_id)
        if len(self._owners) > self.cache_size:
            self._owners.popitem(last=False)


# Topics whose aggregate id is the key: the patient's own events, and messages.
_SELF_KEYED = (get_topic(Patient) + ".", get_topic(InboundMessage) + ".")


ProducerFactory = Callable[[], Any]


class OutboxRelay:
    """Publishes the store's notification log to ``topic``; ``run`` until ``stop``."""

    def __init__(
        self,
        app: Application[Any],
        position: RelayPosition,
        producer_factory: ProducerFactory,
        *,
        topic: str,
        lease: Lease | None = None,
        prepare: Callable[[], Awaitable[None]] | None = None,
        batch_size: int = 500,
        poll_interval_s: float = 0.05,
        retry_s: float = 1.0,
        probe_s: float = 1.0,
    ) -> None:
        self.app = app
        self.position = position
        self.producer_factory = producer_factory
        self.topic = topic
        self.lease = lease
        self.prepare = prepare  # e.g. create the topic with its partition count
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retry_s = retry_s
        self.probe_s = probe_s  # while idle, asks the broker for metadata this often
        self.keys = PatientKeys(app)
        self.published = 0
        self.last_published = 0
        self.leader = False
        self.error: BaseException | None = None
        # time.time() of the first failure since the broker last answered (None: it
        # answers). /health turns red once this is older than its grace.
        self.failing_since: float | None = None
        # Recent lags from each event's creation (just before its commit, so an upper
        # bound of commit-to-broker) to the broker's acknowledgement.
        self.lags_s: deque[float] = deque(maxlen=10_000)
        self._nudge = asyncio.Event()

    def nudge(self) -> None:
        """Publish now rather than at the next poll (call from the event loop's thread)."""
        self._nudge.set()

    def lag_p99_s(self) -> float:
        """The 99th percentile of recent commit-to-acknowledged lags, in seconds."""
        if not self.lags_s:
            return 0.0
        ordered = sorted(self.lags_s)
        return ordered[max(0, int(len(ordered) * 0.99) - 1)]

    async def run(self, stop: asyncio.Event) -> None:
        """Publishes until ``stop`` is set; broker and lease failures are retried."""
        while not stop.is_set():
            try:
                if not await self._lead(stop):
                    continue
                await self._publish_until(stop)
            except Exception as e:  # the broker went away, a send timed out: retry from the record
                self.error = e
                if self.failing_since is None:
                    self.failing_since = time.time()
                log.warning("relay.failed", error=type(e).__name__, detail=str(e)[:200])
                await _sleep_or_stop(stop, self.retry_s)
        if self.lease is not None and self.leader:
            await asyncio.to_thread(self.lease.release)
        self.leader = False

    async def _lead(self, stop: asyncio.Event) -> bool:
        if self.lease is None:
            self.leader = True
            return True
        if not await asyncio.to_thread(self.lease.acquire):
            self.leader = False
            await _sleep_or_stop(stop, self.retry_s)
            return False
        if not self.leader:
            log.info("relay.leading", topic=self.topic)
        self.leader = True
        return True

    async def _publish_until(self, stop: asyncio.Event) -> None:
        if self.prepare is not None:
            await self.prepare()
        producer = self.producer_factory()
        await producer.start()
        self._answered()
        try:
            start = await asyncio.to_thread(self.position.get)
            log.info("relay.started", topic=self.topic, notification_id=start)
            checked = probed = time.monotonic()
            while not stop.is_set():
                if self.lease is not None and time.monotonic() - checked > 1.0:
                    checked = time.monotonic()
                    if not await asyncio.to_thread(self.lease.held):
                        self.leader = False
                        log.warning("relay.lease_lost", topic=self.topic)
                        return
                batch = await asyncio.to_thread(
                    self.app.recorder.select_notifications, start + 1, self.batch_size
                )
                if not batch:
                    if time.monotonic() - probed > self.probe_s:
                        probed = time.monotonic()
                        await self._probe(producer)
                    self._nudge.clear()
                    await _wait_either(self._nudge, stop, self.poll_interval_s)
                    continue
                await self._publish(producer, batch)
                start = batch[-1].id
                await asyncio.to_thread(self.position.record, start)
                self._answered()
        finally:
            try:
                await asyncio.wait_for(producer.stop(), timeout=10)
            except Exception:  # a dead broker cannot take a flush; the record is the truth
                log.warning("relay.producer_stop_failed", topic=self.topic)

    def _answered(self) -> None:
        self.error = None
        self.failing_since = None

    async def _probe(self, producer: Any) -> None:
        """Asks the broker for metadata while idle: an outage shows without any send.

        Raises whatever the client raises when no broker answers (handled by ``run``).
        """
        client = getattr(producer, "client", None)
        if client is None:  # a producer without aiokafka's client (tests): nothing to ask
            return
        await asyncio.wait_for(client.fetch_all_metadata(), timeout=max(self.probe_s, 5.0))
        self._answered()

    async def _publish(self, producer: Any, batch: Sequence[Notification]) -> None:
        keys, created_at = await asyncio.to_thread(self._keyed, batch)
        futures = []
        for notification, key in zip(batch, keys, strict=True):
            value, headers = encode_notification(self.app.name, notification)
            futures.append(await producer.send(self.topic, value=value, key=key, headers=headers))
        for future in futures:
            await future  # raises if the broker did not take it: nothing is recorded
        # The batch's oldest event has the largest lag: counted for every event of
        # the batch, the percentiles are an upper bound and need one decode per batch.
        self.lags_s.extend([max(0.0, time.time() - created_at)] * len(batch))
        self.published += len(batch)
        self.last_published = batch[-1].id

    def _keyed(self, batch: Sequence[Notification]) -> tuple[list[bytes], float]:
        keys = [str(self.keys.key_of(n)).encode() for n in batch]
        oldest = self.keys.decode(batch[0])
        # The mapper is typed for any event protocol; every carelog event is a DomainEvent.
        return keys, cast(DomainEvent, oldest).timestamp.timestamp()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_either(nudge: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(nudge.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
