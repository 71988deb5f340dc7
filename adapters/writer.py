"""The single writer thread: every message waiting is committed in one transaction.

Connections hand their messages to ``submit`` and await the outcome. While
the writer commits one batch, the next queues up behind it, so under load a
commit (one fsync) serves many messages, and with one connection it serves
one with no added wait. Each message is still answered only after the
commit that holds it. The outcomes of a batch go back to the event loop in
one wake-up (one ``call_soon_threadsafe``), not one per message.

``on_commit`` (bootstrap: nudge the projection runner) is told about commits
at most every ``notify_interval_s``: the first commit after a quiet spell at
once, later ones gathered and reported together when the interval is up
(the writer wakes for it even if no message comes). Under load the read
models then catch up in a few large transactions instead of one per commit,
which halves their CPU and their turns at SQLite's write lock; they lag the
events by at most that interval, plus their own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence

import structlog

from engine.application.outcome import IngestOutcome

__all__ = ["GroupCommitWriter"]

IngestMany = Callable[[Sequence[tuple[bytes, str]]], list[IngestOutcome]]
_Item = tuple[bytes, str, "asyncio.Future[IngestOutcome]"]

log = structlog.get_logger(__name__)


class GroupCommitWriter:
    """Owns the store's writes; ``submit`` from the event loop, outcomes come back per message."""

    def __init__(
        self,
        ingest_many: IngestMany,
        *,
        max_batch: int = 64,
        on_commit: Callable[[list[IngestOutcome]], None] = lambda _: None,
        notify_interval_s: float = 0.0,
        max_linger_s: float = 0.0,
    ) -> None:
        self._ingest_many = ingest_many
        self.max_batch = max_batch
        self._on_commit = on_commit
        self.notify_interval_s = notify_interval_s
        self._unreported: list[IngestOutcome] = []  # committed, not yet told to on_commit
        self._next_report = 0.0  # time.monotonic() from which on_commit may be called again
        self.max_linger_s = max_linger_s
        self._submitted = 0  # written by the event loop only
        self._completed = 0  # written by the writer thread only
        self._peak = 0  # most messages outstanding at once lately (event loop writes it)
        self._peak_until = 0.0
        self._last_commit_s = 0.0
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()
        self.batches = 0
        self.messages = 0

    async def submit(self, raw: bytes, channel: str) -> IngestOutcome:
        """Queues one message and waits for its committed (or rejected) outcome."""
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        self._submitted += 1
        outstanding = self._submitted - self._completed
        now = time.monotonic()
        if outstanding >= self._peak or now > self._peak_until:
            self._peak, self._peak_until = outstanding, now + 0.5
        self._queue.put((raw, channel, future))
        return await future

    def close(self) -> None:
        """Finishes everything already submitted, then stops the thread."""
        self._queue.put(None)
        self._thread.join()
        log.info("writer.stopped", batches=self.batches, messages=self.messages)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self._report_due_in())
            except queue.Empty:  # the interval is up and nothing came: report what is owed
                self._report()
                continue
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if not stopping and len(batch) < min(self._peak, self.max_batch):
                stopping = self._linger(batch)
            self._commit(batch)
        self._report()

    def _linger(self, batch: list[_Item]) -> bool:
        """Waits briefly for the senders whose ACKs just went out; True if told to stop.

        With N stop-and-wait connections, taking only what is queued splits them
        into two groups that commit in turn, each fsync serving N/2 messages.
        Waiting a fraction of a commit's duration (at most ``max_linger_s``) for
        the messages lately seen outstanding at once lets one fsync serve all N.
        One connection never waits: nothing more is outstanding.
        """
        linger = min(self.max_linger_s, self._last_commit_s / 2)
        if linger <= 0:
            return False
        deadline = time.monotonic() + linger
        while len(batch) < min(self._peak, self.max_batch):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                return True
            batch.append(item)
        return False

    def _report_due_in(self) -> float | None:
        """Seconds until the owed on_commit call is due; ``None``: nothing owed, wait freely."""
        if not self._unreported:
            return None
        return max(0.0, self._next_report - time.monotonic())

    def _report(self) -> None:
        """Tells on_commit about every commit not yet reported (a failure there is logged)."""
        outcomes, self._unreported = self._unreported, []
        self._next_report = time.monotonic() + self.notify_interval_s
        if not outcomes:
            return
        try:
            self._on_commit(outcomes)
        except Exception:  # the messages are committed and answered; only the hook failed
            log.exception("writer.on_commit_failed")

    def _commit(self, batch: list[_Item]) -> None:
        futures = [future for _, _, future in batch]
        started = time.monotonic()
        try:
            outcomes = self._ingest_many([(raw, channel) for raw, channel, _ in batch])
        except Exception as e:  # the whole commit failed: nothing stored, every message says so
            self._completed += len(batch)
            _call_soon(futures, None, e)
            return
        self._last_commit_s = time.monotonic() - started
        self._completed += len(batch)  # before the answers: a resend must not look concurrent
        self.batches += 1
        self.messages += len(batch)
        _call_soon(futures, outcomes)
        self._unreported.extend(outcomes)
        if time.monotonic() >= self._next_report:
            self._report()


def _call_soon(
    futures: list[asyncio.Future[IngestOutcome]],
    outcomes: list[IngestOutcome] | None,
    error: Exception | None = None,
) -> None:
    """Settles the futures on the loop that owns them: one wake-up per loop and batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
    for index, future in enumerate(futures):
        by_loop.setdefault(future.get_loop(), []).append(index)
    for loop, indexes in by_loop.items():
        mine = [futures[i] for i in indexes]
        results = [outcomes[i] for i in indexes] if outcomes is not None else None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, mine, results, error)


def _settle(
    futures: list[asyncio.Future[IngestOutcome]],
    outcomes: list[IngestOutcome] | None,
    error: Exception | None,
) -> None:
    for index, future in enumerate(futures):
        if future.done():  # the connection gave up (cancelled) meanwhile
            continue
        if outcomes is not None:
            future.set_result(outcomes[index])
        else:
            future.set_exception(error or RuntimeError("commit failed"))
