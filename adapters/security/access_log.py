"""The access log's way into the store: entries buffered per request, stored in batches.

Writing each record before answering would add a commit (an fsync) to every
read. Instead a request appends its entries to a buffer (no I/O), and a
flusher thread hands the buffer to ``store`` every ``flush_s`` seconds (or
sooner when ``max_batch`` entries wait). In `carelog serve` ``store`` runs
the batch on the single writer thread, between ingestion commits, so the
access log never competes with ingestion for the store's write lock.
``stop`` flushes what is left (graceful shutdown). A crash (SIGKILL, power
loss) loses at most the entries of the last ``flush_s`` seconds that were
not yet committed; docs/access-control.md says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import structlog

from adapters.mllp.tls import Refusal
from engine.domain.access import AccessFacts, AccessRecord

__all__ = ["AccessEntry", "AccessLog", "mllp_refusal_entry", "to_records"]

log = structlog.get_logger(__name__)


AccessEntry = AccessFacts
"""One access-log line, as the access layer saw the request."""


def to_records(entries: Sequence[AccessEntry]) -> list[AccessRecord]:
    """The domain records of ``entries``, ready to store."""
    return [AccessRecord.record(e) for e in entries]


Store = Callable[[list[AccessEntry]], None]


class AccessLog:
    """A buffer of entries and the thread that stores them (``start``/``stop``)."""

    def __init__(self, store: Store, *, flush_s: float = 0.2, max_batch: int = 1000) -> None:
        self._store = store
        self.flush_s = flush_s
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._buffer: list[AccessEntry] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stored = 0
        self.failed = 0

    def add(self, entries: Sequence[AccessEntry]) -> None:
        """Queues entries (cheap: no I/O); the flusher stores them soon."""
        with self._lock:
            self._buffer.extend(entries)
            full = len(self._buffer) >= self.max_batch
        if full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> int:
        """Stores what is buffered now; returns how many entries.

        A failed store puts the entries back in front (kept for the next
        flush) and logs, without PHI, that it failed.
        """
        with self._flushing:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                self._store(batch)
            except Exception as e:
                with self._lock:
                    self._buffer[:0] = batch
                self.failed += 1
                log.error("access_log.store_failed", error=type(e).__name__, entries=len(batch))
                return 0
            self.stored += len(batch)
            return len(batch)

    def start(self) -> None:
        """Flushes every ``flush_s`` seconds in a daemon thread, until ``stop``."""

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(self.flush_s)
                self._wake.clear()
                self.flush()

        self._thread = threading.Thread(target=loop, name="access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread (if started) and stores everything still buffered."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()


def mllp_refusal_entry(refusal: Refusal, at: str) -> AccessEntry:
    """The access-log line of a refused MLLP sender (no patient: the message is not read).

    ``subject`` is the client certificate's first identity; ``path`` names the
    MSH-3/MSH-4 pair it tried to send as, ``query`` the control id and reason.
    """
    return AccessEntry(
        at=at,
        subject=refusal.identities[0] if refusal.identities else "",
        client_id="",
        token_id="",
        interaction="mllp-send",
        resource_type="HL7v2",
        method="MLLP",
        path=f"mllp:{refusal.msh3}^{refusal.msh4}"[:2000],
        query=f"control_id={refusal.control_id}&reason={refusal.reason}"[:2000],
        patient_id="",
        outcome=403,
        peer=refusal.peer,
    )
