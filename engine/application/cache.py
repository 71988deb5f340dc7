"""The committed history of recently used aggregates, so that ingestion rarely reads the store.

Reading an aggregate through the repository costs a store round trip (~55 us
on SQLite, more on PostgreSQL) even when it does not exist; rebuilding one
from a few cached events costs ~10 us. The cache keeps, per aggregate id, the
tuple of its committed domain events (an empty tuple: known not to exist),
least recently used first out.

It only ever holds what was committed, and is safe to share between threads
(an entry read from the store is kept only if no commit or clear happened
while it was being read, so a slow reader cannot put back a stale history).
Staleness is guarded two ways: the store's head position is compared with
the last one this process saw before each batch (another writer moved it:
the cache is emptied), and a conflicting save (IntegrityError, optimistic
concurrency) empties it too. Events are immutable and the domain only
assigns (never mutates a value in place), so rebuilding from the same event
objects again and again is safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from engine.domain.lean import copy_aggregate, replay

__all__ = ["EventCache", "copy_aggregate", "project"]


def project(events: Iterable[Any]) -> Any:
    """The aggregate that ``events`` build, ``None`` for no events.

    eventsourcing's ``project_aggregate`` does the same behind a runtime
    Protocol ``isinstance`` check that costs more than the replay itself;
    ``replay`` also builds the first state without the generic ``mutate``.
    """
    return replay(events)


class EventCache:
    """An LRU map from aggregate id to its committed events."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[UUID, tuple[Any, ...]] = OrderedDict()
        # Per cached aggregate: a history it was built from and that state (never lent out).
        self._built: dict[UUID, tuple[tuple[Any, ...], Any]] = {}
        self.head: int | None = None  # the store position the entries are known up to
        self.generation = 0  # moves on every commit and clear
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, aggregate_id: object) -> bool:
        return aggregate_id in self._entries

    def get(self, aggregate_id: UUID) -> tuple[Any, ...] | None:
        """The committed events of an aggregate (``()``: absent), ``None`` when unknown."""
        with self._lock:
            events = self._entries.get(aggregate_id)
            if events is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(aggregate_id)
            return events

    def build(self, aggregate_id: UUID, events: tuple[Any, ...]) -> Any:
        """A fresh aggregate built from ``events`` (``None`` for none), as ``project`` builds it.

        When ``events`` starts with a history built before (the same event
        objects, or equal ones), that state is copied and only the events after it are
        applied: a patient seen for the hundredth time costs one copy and a
        mutate or two, not a hundred mutates. The copy is shallow, which is a
        full copy here: events are immutable and the domain only ever assigns
        attributes (never changes a value in place). The state is remembered
        for committed histories only (the cache's own entries).
        """
        with self._lock:
            built = self._built.get(aggregate_id)
        aggregate = None
        rest = events
        if built is not None:
            base, state = built
            # equal events (the same objects, mostly) build the same state
            if len(events) >= len(base) and events[: len(base)] == base:
                aggregate = copy_aggregate(state)
                rest = events[len(base) :]
        if aggregate is None:
            aggregate = replay(rest)
        else:
            for event in rest:
                aggregate = event.mutate(aggregate)
        if rest and aggregate is not None:
            with self._lock:
                if self._entries.get(aggregate_id) is events:
                    self._built[aggregate_id] = (events, copy_aggregate(aggregate))
        return aggregate

    def put_read(self, generation: int, histories: dict[UUID, tuple[Any, ...]]) -> None:
        """Keeps histories read from the store, unless the cache moved on since ``generation``."""
        with self._lock:
            if generation != self.generation:
                return
            for aggregate_id, events in histories.items():
                self._put(aggregate_id, events)

    def _put(self, aggregate_id: UUID, events: tuple[Any, ...]) -> None:
        if self.maxsize <= 0:
            return
        self._entries[aggregate_id] = events
        self._entries.move_to_end(aggregate_id)
        while len(self._entries) > self.maxsize:
            evicted, _ = self._entries.popitem(last=False)
            self._built.pop(evicted, None)

    def clear(self) -> None:
        """Forgets everything: the store may have changed behind this process's back."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._entries.clear()
        self._built.clear()
        self.head = None
        self.generation += 1

    def check_head(
        self,
        head: int,
        *,
        generation: int | None = None,
        histories: dict[UUID, tuple[Any, ...]] | None = None,
    ) -> None:
        """Empties the cache unless ``head`` is the store position it is known up to.

        ``histories`` read in the same snapshot as ``head`` (from the store as
        of ``generation``) are then kept, unless a commit or clear happened
        since that read: they are exactly the committed state up to ``head``,
        which is what the cache now stands for.
        """
        with self._lock:
            moved = generation is not None and generation != self.generation
            if head != self.head:
                self._clear()
                self.head = head
            if histories and not moved:
                for aggregate_id, events in histories.items():
                    self._put(aggregate_id, events)

    def committed(
        self,
        events: Sequence[Any],
        *,
        head: int,
        first: int,
        last: int,
        skip: type | tuple[type, ...] = (),
    ) -> None:
        """Appends events just committed (store positions ``first``..``last``) to their entries.

        ``head`` is the position checked before the batch was decided; if the
        commit does not follow it directly, another writer slipped in and the
        cache starts afresh. An aggregate whose earlier history is not cached
        is dropped rather than cached with a gap. Events of the ``skip`` types
        (the raw inbound message, large and never loaded again) are not kept.
        """
        with self._lock:
            if first != head + 1 or self.head != head:
                self._clear()
            self.generation += 1
            self.head = last
            for event in events:
                if isinstance(event, skip):
                    continue
                aggregate_id = event.originator_id
                version = event.originator_version
                known = self._entries.get(aggregate_id)
                if version == 1:
                    self._put(aggregate_id, (event,))
                elif known and known[-1].originator_version + 1 == version:
                    self._put(aggregate_id, (*known, event))
                else:
                    self._entries.pop(aggregate_id, None)
                    self._built.pop(aggregate_id, None)
