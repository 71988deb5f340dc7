"""The single writer thread: every message waiting is committed in one transaction.

Connections hand their messages to ``submit`` and await the outcome. While
the writer commits one batch, the next queues up behind it, so under load a
commit (one fsync) serves many messages, and with one connection it serves
one with no added wait. Each message is still answered only after the
commit that holds it. The outcomes of a batch go back to the event loop in
one wake-up (one ``call_soon_threadsafe``), not one per message.

Other writes to the same store go through ``call`` (a FHIR request, whose
result is awaited) or ``run`` (the access log's batches, fire and forget):
they run on the writer thread between two commits, in queue order, so the
store has one writer and the event cache stays valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog

from engine.application.outcome import IngestOutcome

__all__ = ["GroupCommitWriter"]

IngestMany = Callable[[Sequence[tuple[bytes, str]]], list[IngestOutcome]]
_Item = tuple[bytes, str, "asyncio.Future[IngestOutcome]"]
T = TypeVar("T")


class _Call:
    """A write other than a v2 message (a FHIR request, an access-log batch): run alone,
    in queue order. ``future`` is None for a job nobody awaits (``run``)."""

    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], Any], future: asyncio.Future[Any] | None) -> None:
        self.fn = fn
        self.future = future


log = structlog.get_logger(__name__)


class GroupCommitWriter:
    """Owns the store's writes; ``submit`` from the event loop, outcomes come back per message."""

    def __init__(
        self,
        ingest_many: IngestMany,
        *,
        max_batch: int = 64,
        on_commit: Callable[[list[IngestOutcome]], None] = lambda _: None,
    ) -> None:
        self._ingest_many = ingest_many
        self.max_batch = max_batch
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Item | _Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()
        self.batches = 0  # v2 group commits (messages per commit = messages / batches)
        self.messages = 0
        self.calls = 0  # other writes run here (FHIR requests)
        # The error class of the last v2 commit if it failed (the store refused it), with
        # its time.time(); None once a commit succeeds. /health reports it.
        self.failing: tuple[str, float] | None = None

    async def submit(self, raw: bytes, channel: str) -> IngestOutcome:
        """Queues one message and waits for its committed (or rejected) outcome."""
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        self._queue.put((raw, channel, future))
        return await future

    async def call(self, fn: Callable[[], T]) -> T:
        """Runs ``fn`` (a write through the ingestion service) on the writer thread.

        Every write to the store thus goes through this one thread, MLLP and
        FHIR alike, in the order submitted; ``fn`` commits on its own.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Call(fn, future))
        return await future

    def run(self, job: Callable[[], object]) -> None:
        """Queues ``job`` to run on the writer thread, after the writes queued before it.

        Nobody awaits it: a job that raises is logged and does not stop the writer.
        """
        self._queue.put(_Call(job, None))

    def close(self) -> None:
        """Finishes everything already submitted, then stops the thread."""
        self._queue.put(None)
        self._thread.join()
        log.info("writer.stopped", batches=self.batches, messages=self.messages)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            if isinstance(first, _Call):
                self._run_call(first)
                continue
            batch = [first]
            call = None
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                if isinstance(item, _Call):
                    call = item
                    break
                batch.append(item)
            self._commit(batch)
            if call is not None:
                self._run_call(call)

    def _run_call(self, call: _Call) -> None:
        if call.future is None:
            try:
                call.fn()
            except Exception as e:
                log.error("writer.job_failed", error=type(e).__name__)
            return
        loop = call.future.get_loop()
        try:
            result = call.fn()
        except Exception as e:  # answered to the caller, who turns it into a status
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_call, call.future, None, e)
            return
        self.calls += 1
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_call, call.future, result, None)

    def _commit(self, batch: list[_Item]) -> None:
        futures = [future for _, _, future in batch]
        try:
            outcomes = self._ingest_many([(raw, channel) for raw, channel, _ in batch])
        except Exception as e:  # the whole commit failed: nothing stored, every message says so
            if self.failing is None:
                self.failing = (type(e).__name__, time.time())
            _call_soon(futures, None, e)
            return
        self.failing = None
        self.batches += 1
        self.messages += len(batch)
        _call_soon(futures, outcomes)
        self._on_commit(outcomes)


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


def _settle_call(future: asyncio.Future[Any], result: Any, error: Exception | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
