"""Feeding stored events to projections: catch-up by polling, the same for every backend.

eventsourcing's SQLite recorder cannot subscribe, so the runner reads the
notification log in batches from the projection's tracking position + 1 and
calls ``process_event``. The in-process server nudges it after each commit,
so the patient index trails the ACK by milliseconds, not a polling interval.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.projection import Projection

__all__ = ["PollingProjectionRunner"]

log = structlog.get_logger(__name__)


class PollingProjectionRunner:
    """Keeps one projection caught up with one application's notification log."""

    def __init__(
        self,
        app: Application[Any],
        projection: Projection[Any],
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.app = app
        self.projection = projection
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._nudge = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._scanned = 0  # highest notification id read, matching the topics or not
        self._scanned_changed = threading.Condition()
        self.error: BaseException | None = None

    @property
    def position(self) -> int:
        """The highest notification id this projection has seen (0 before any)."""
        tracked = self.projection.view.max_tracking_id(self.app.name) or 0
        return max(tracked, self._scanned)

    def catch_up(self) -> int:
        """Processes every notification not yet tracked; returns how many it applied."""
        applied = 0
        with self._lock:
            # Read the head first: everything up to it is scanned below, so it is
            # safe to remember it as seen even where no notification matched.
            head = self.app.recorder.max_notification_id() or 0
            start = max(self.projection.view.max_tracking_id(self.app.name) or 0, self._scanned) + 1
            while start <= head:
                batch = self.app.recorder.select_notifications(
                    start, self.batch_size, stop=head, topics=self.projection.topics
                )
                for notification in batch:
                    event = self.app.mapper.to_domain_event(notification)
                    tracking = Tracking(self.app.name, notification.id)
                    try:
                        self.projection.process_event(event, tracking)
                    except IntegrityError:
                        pass  # already applied by an earlier run: exactly-once holds
                    else:
                        applied += 1
                    self._mark_scanned(notification.id)
                if len(batch) < self.batch_size:
                    break
                start = batch[-1].id + 1
            self._mark_scanned(head)
        if applied:
            log.debug("projection.caught_up", projection=self.projection.name, applied=applied)
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
        """Blocks until the projection has seen ``notification_id``; False on timeout."""
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
        self._thread = threading.Thread(
            target=self._loop, name=f"projection-{self.projection.name}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
            except Exception as e:  # keep serving reads; report and retry later
                self.error = e
                log.exception("projection.failed", projection=self.projection.name)
                self._stop.wait(self.poll_interval_s)
            self._nudge.wait(self.poll_interval_s)
            self._nudge.clear()

    def stop(self) -> None:
        """Stops the loop after its current batch, then applies whatever is left."""
        self._stop.set()
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.catch_up()
