"""Feeding stored events to projections: catch-up by polling, the same for every backend.

eventsourcing's SQLite recorder cannot subscribe, so the runner reads the
notification log in batches from the lowest tracking position of its
projections + 1 and hands each event to every projection that has not yet
applied it and subscribes to its topic. One read serves all read models; each
projection still records its own position with its own rows. The in-process
server nudges the runner after each commit, so read models trail the ACK by
at most ``min_interval_s`` (50 ms in `carelog serve`: under load, the commits of
that time are projected in one round) plus the round, not a polling interval.

The writer of the same process also hands each commit's recordings over
(``offer``): a round applies those domain events as they are, without
selecting or decoding them again, as long as they continue exactly from the
slowest projection's position. Anything else (a gap in the ids: another
writer, a restart, events dropped because the hand-over queue was full)
is read from the store as before. Either way each projection records its
position in the same transaction as its rows, so exactly-once holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import structlog
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Recording, Tracking
from eventsourcing.projection import Projection

from projections.batching import shared_batch
from projections.collector import collect_young, collector_paused
from projections.decoding import DecodesEvents, event_decoder
from projections.handover import HANDOVER_LIMIT, Handover

__all__ = ["HANDOVER_LIMIT", "PollingProjectionRunner", "ProjectionFailed"]


log = structlog.get_logger(__name__)


class ProjectionFailed(Exception):
    """A projection raised on an event: the round stops there, and the runner is stuck.

    Carries what an operator needs to find it and nothing of the event's content:
    the read model, the store position, the event's class and the error's class
    (a driver's message can quote row values). The original is ``__cause__``.
    """

    def __init__(self, projection: str, notification_id: int, event: str, error: str) -> None:
        super().__init__(f"{projection} failed on notification {notification_id}: {error}")
        self.projection = projection
        self.notification_id = notification_id
        self.event = event
        self.error = error
        self.since = time.time()

    def facts(self) -> dict[str, Any]:
        """What /health and the logs say about it (no PHI)."""
        return {
            "read_model": self.projection,
            "notification_id": self.notification_id,
            "event_type": self.event,
            "error": self.error,
            "since": round(self.since, 3),
        }


class EventSource(Protocol):
    """What a runner reads: an eventsourcing Application, or a stand-in with the same three."""

    @property
    def name(self) -> str: ...
    @property
    def recorder(self) -> ApplicationRecorder: ...
    @property
    def mapper(self) -> DecodesEvents: ...


class PollingProjectionRunner:
    """Keeps one or more projections caught up with one application's notification log."""

    def __init__(
        self,
        app: EventSource,
        *projections: Projection[Any],
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        min_interval_s: float = 0.0,
        handover_limit: int = HANDOVER_LIMIT,
    ) -> None:
        if not projections:
            raise ValueError("PollingProjectionRunner needs at least one projection")
        self.app = app
        self.projections: tuple[Projection[Any], ...] = projections
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        # Background rounds at least this far apart: under load, nudges that arrive
        # meanwhile coalesce into one larger catch-up (each has fixed costs).
        self.min_interval_s = min_interval_s
        self._nudge = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._scanned = 0  # highest notification id read by every projection
        self._scanned_changed = threading.Condition()
        self.error: BaseException | None = None
        # The projection and event the runner is stuck on (None while rounds succeed).
        self.stuck: ProjectionFailed | None = None
        self._decode = event_decoder(app.mapper)  # the mapper's events, decoded faster
        # Recordings the writer committed, oldest first; bounded, so a runner that
        # is not running (no lease) or falls behind holds at most this many.
        self._handed = Handover(handover_limit)
        self.handed_over = 0  # events applied from the hand-over (not read from the store)
        self.read_back = 0  # notifications read from the store

    @property
    def projection(self) -> Projection[Any]:
        """The first projection (the only one, for a single-projection runner)."""
        return self.projections[0]

    @property
    def position(self) -> int:
        """The highest notification id all projections have seen (0 before any)."""
        return max(min(self._tracked(p) for p in self.projections), self._scanned)

    def positions(self) -> dict[str, int]:
        """Each projection's own tracked position, by projection name."""
        return {p.name: max(self._tracked(p), self._scanned) for p in self.projections}

    def _tracked(self, projection: Projection[Any]) -> int:
        return projection.view.max_tracking_id(self.app.name) or 0

    def offer(self, recordings: Sequence[Recording[Any]]) -> None:
        """Hands over a commit's recordings, in commit order (the writer calls this after it).

        Cheap and safe from any thread: it only queues them for the next round.
        """
        self._handed.offer(recordings)

    def catch_up(self) -> int:
        """Processes every notification not yet tracked; returns how many events it applied.

        An event counts once per projection that applied it.
        """
        applied = 0
        with self._lock, collector_paused():
            # Taken before the head is read: everything handed over is then at or
            # below the head (and anything after a gap is read from the store).
            handed = self._handed.take()
            # Read the head first: everything up to it is scanned below, so it is
            # safe to remember it as seen even where no notification matched.
            head = self.app.recorder.max_notification_id() or 0
            done = {p.name: max(self._tracked(p), self._scanned) for p in self.projections}
            wanted = {p.name: frozenset(p.topics) for p in self.projections}
            # An empty topics tuple means "every event" for eventsourcing projections.
            topics: tuple[str, ...] = ()
            if all(wanted.values()):
                topics = tuple(sorted(frozenset().union(*wanted.values())))
            start = min(done.values()) + 1
            if handed:
                start, fed = self._apply_handed(handed, start, head, done, wanted)
                applied += fed
            decode = self._decode
            while start <= head:
                batch = self.app.recorder.select_notifications(
                    start, self.batch_size, stop=head, topics=topics
                )
                self.read_back += len(batch)
                events: dict[int, Any] = {}
                work: list[tuple[Projection[Any], list[tuple[int, Any]]]] = []
                for projection in self.projections:
                    after = done[projection.name]
                    subscribed = wanted[projection.name]
                    todo = [
                        n
                        for n in batch
                        if n.id > after and (not subscribed or n.topic in subscribed)
                    ]
                    for n in todo:
                        if n.id not in events:
                            events[n.id] = decode(n)
                    work.append((projection, [(n.id, events[n.id]) for n in todo]))
                applied += self._apply_all(work)
                if len(batch) < self.batch_size:
                    break
                start = batch[-1].id + 1
                collect_young()  # a long catch-up (a replay) still reclaims cycles
            self._mark_scanned(head)
        if applied:
            names = [p.name for p in self.projections]
            log.debug("projection.caught_up", projection=",".join(names), applied=applied)
        return applied

    def _apply_handed(
        self,
        handed: list[Recording[Any]],
        start: int,
        head: int,
        done: dict[str, int],
        wanted: dict[str, frozenset[str]],
    ) -> tuple[int, int]:
        """Applies the handed-over events that continue exactly from ``start``.

        Returns the position to read the store from and how many events were
        applied. Recordings before ``start`` are already seen; the first one
        that does not follow on (a gap) ends the hand-over: from there on the
        store is read, which has them all.
        """
        fast: list[tuple[int, str, Any]] = []
        expected = start
        for recording in handed:
            notification = recording.notification
            nid = notification.id
            if nid < expected:
                continue
            if nid != expected or nid > head:
                break
            fast.append((nid, notification.topic, recording.domain_event))
            expected += 1
        if not fast:
            return start, 0
        work = []
        for projection in self.projections:
            after = done[projection.name]
            topics = wanted[projection.name]
            todo = [
                (nid, event)
                for nid, topic, event in fast
                if nid > after and (not topics or topic in topics)
            ]
            work.append((projection, todo))
        applied = self._apply_all(work)
        self.handed_over += len(fast)
        return expected, applied

    def _apply_all(self, work: list[tuple[Projection[Any], list[tuple[int, Any]]]]) -> int:
        """Applies each projection's events; views that can share one transaction do.

        SQLite views in one database file (``projections.batching.shared_batch``)
        commit a round together, once, instead of once each. If anything in that
        transaction fails on IntegrityError (another runner applied some of
        these events first), all of it rolls back and each projection's events
        are applied on their own, as without sharing.
        """
        busy = [(projection, events) for projection, events in work if events]
        if len(busy) > 1:
            try:
                with shared_batch([p.view for p, _ in busy]) as joined:
                    if joined:
                        # Tracking objects are immutable: one per event serves every view.
                        trackings: dict[int, Tracking] = {}
                        applied = 0
                        for projection, events in busy:
                            if projection.view in joined:
                                applied += self._apply_joined(projection, events, trackings)
                            else:
                                applied += self._apply(projection, events)
                        return applied
            except Exception:
                pass  # every shared row and position rolled back: apply them one view at a time
        # Each view on its own: one that fails does not hold the others back, but the
        # round ends after this batch (a later event applied past a failed one would
        # move its position beyond the failure, and lose it).
        applied, failed = 0, None
        for projection, events in busy:
            try:
                applied += self._apply(projection, events)
            except ProjectionFailed as e:
                failed = failed or e
        if failed is not None:
            raise failed
        return applied

    def _apply_joined(
        self,
        projection: Projection[Any],
        events: list[tuple[int, Any]],
        trackings: dict[int, Tracking],
    ) -> int:
        """Applies ``events`` inside the open shared transaction; any failure ends it."""
        name = self.app.name
        process = projection.process_event
        for notification_id, event in events:
            tracking = trackings.get(notification_id)
            if tracking is None:
                tracking = trackings[notification_id] = Tracking(name, notification_id)
            process(event, tracking)
        return len(events)

    def _apply(self, projection: Projection[Any], events: list[tuple[int, Any]]) -> int:
        """Applies ``events`` in one view transaction; one by one if that batch fails.

        A batch fails on IntegrityError when another runner applied some of these
        events first; one by one, those are skipped and the rest applied.
        """
        if not events:
            return 0
        batch = getattr(projection.view, "batch", None)
        if batch is not None and len(events) > 1:
            try:
                with batch():
                    for notification_id, event in events:
                        projection.process_event(event, Tracking(self.app.name, notification_id))
            except Exception:
                pass  # rolled back: one by one below finds a duplicate, or the failing event
            else:
                return len(events)
        applied = 0
        for notification_id, event in events:
            try:
                projection.process_event(event, Tracking(self.app.name, notification_id))
            except IntegrityError:
                pass  # already applied by an earlier run: exactly-once holds
            except Exception as e:
                raise ProjectionFailed(
                    projection.name, notification_id, type(event).__qualname__, type(e).__name__
                ) from e
            else:
                applied += 1
        return applied

    def _mark_scanned(self, notification_id: int) -> None:
        with self._scanned_changed:
            if notification_id > self._scanned:
                self._scanned = notification_id
                self._scanned_changed.notify_all()

    def nudge(self) -> None:
        """Asks the background loop to catch up now rather than at the next poll."""
        self._nudge.set()

    def wait_for(self, notification_id: int, timeout: float = 5.0) -> bool:
        """Blocks until every projection has seen ``notification_id``; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._scanned_changed:
            while self._scanned < notification_id:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.nudge()
                self._scanned_changed.wait(min(remaining, 0.05))
        return True

    def start(self) -> None:
        """Runs catch-up in a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._loop, name="projections", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
            except ProjectionFailed as e:  # stuck on one event: report it, retry later
                self.error = e
                if self.stuck is None or self.stuck.notification_id != e.notification_id:
                    self.stuck = e
                facts = e.facts()
                log.error("projection.failed", projection=facts.pop("read_model"), **facts)
                self._stop.wait(self.poll_interval_s)
            except Exception as e:  # keep serving reads; report and retry later
                self.error = e
                # The error's type, not its text: a driver's message can quote row
                # values (PostgreSQL's "Key (...)=(...)"), and those may be identifiers.
                log.error("projection.failed", projection=self._names(), error=type(e).__name__)
                self._stop.wait(self.poll_interval_s)
            else:
                self.error = None
                self.stuck = None
            if self.min_interval_s > 0:
                self._rest()
            self._nudge.wait(self.poll_interval_s)
            self._nudge.clear()

    def _rest(self) -> None:
        """The pause of ``min_interval_s`` between rounds (nudges meanwhile coalesce)."""
        self._stop.wait(self.min_interval_s)

    def _names(self) -> str:
        return ",".join(p.name for p in self.projections)

    def stop(self) -> None:
        """Stops the loop after its current batch, then applies whatever is left."""
        self._stop.set()
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.catch_up()
        log.info(
            "projection.stopped",
            projection=self._names(),
            handed_over=self.handed_over,
            read_back=self.read_back,
        )
