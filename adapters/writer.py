"""The single writer thread: every message waiting is committed in one transaction.

Connections hand their messages to ``submit`` and await the outcome. While
the writer commits one batch, the next queues up behind it, so under load a
commit (one fsync) serves many messages, and with one connection it serves
one with no added wait. Each message is still answered only after the
commit that holds it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from engine.application.outcome import IngestOutcome

__all__ = ["GroupCommitWriter"]

IngestMany = Callable[[Sequence[tuple[bytes, str]]], list[IngestOutcome]]
_Item = tuple[bytes, str, "Future[IngestOutcome]"]


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
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()
        self.batches = 0
        self.messages = 0

    async def submit(self, raw: bytes, channel: str) -> IngestOutcome:
        """Queues one message and waits for its committed (or rejected) outcome."""
        future: Future[IngestOutcome] = Future()
        self._queue.put((raw, channel, future))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Finishes everything already submitted, then stops the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
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
            self._commit(batch)

    def _commit(self, batch: list[_Item]) -> None:
        try:
            outcomes = self._ingest_many([(raw, channel) for raw, channel, _ in batch])
        except Exception as e:  # the whole commit failed: nothing stored, every message says so
            for _, _, future in batch:
                future.set_exception(e)
            return
        self.batches += 1
        self.messages += len(batch)
        for (_, _, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)
        self._on_commit(outcomes)
