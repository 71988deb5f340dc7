"""What the writer hands a reader of the log in memory: a commit's recordings, oldest first.

The in-process projection runner and the audit sealer both read the
notification log right after the writer committed to it. The writer offers
them each commit's recordings (domain event and stored notification), so
they need not select and decode what was just written. A reader takes what
was offered before it reads the store's head, uses it only where it
continues exactly from its own position, and reads the store for the rest;
the queue is bounded, so a reader that does not run (no lease) or falls
behind holds at most ``HANDOVER_LIMIT`` recordings and drops the oldest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Recording

__all__ = ["HANDOVER_LIMIT", "Handover"]

HANDOVER_LIMIT = 5_000
"""Recordings a hand-over keeps: beyond, the oldest go (and are read from the store)."""


class Handover:
    """A bounded queue of committed recordings, safe to offer to from any thread."""

    def __init__(self, limit: int = HANDOVER_LIMIT) -> None:
        self._recordings: deque[Recording[Any]] = deque(maxlen=max(limit, 0))

    def offer(self, recordings: Sequence[Recording[Any]]) -> None:
        """Queues a commit's recordings, in commit order (the writer calls this after it)."""
        self._recordings.extend(recordings)

    def take(self) -> list[Recording[Any]]:
        """Everything offered so far, oldest first; the queue is left empty."""
        taken: list[Recording[Any]] = []
        recordings = self._recordings
        while True:
            try:
                taken.append(recordings.popleft())
            except IndexError:
                return taken
