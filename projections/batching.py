"""Many events' rows in one transaction: what makes catch-up and replay fast.

A view command writes its rows and the tracking position in one transaction.
Committing once per event caps a replay at a few thousand events per second
(one fsync each on SQLite), so the runner opens ``view.batch()`` around a run
of events and every command inside it joins that one transaction. Exactly-once
holds as before: the positions are written in the same transaction as the
rows, and if any command fails the whole batch rolls back (the runner then
applies those events one by one). With the library's single-row tracking,
only a batch's first position per tracking name is checked and its last one
written: the first write holds the write lock (SQLite) or the tracking row's
lock (PostgreSQL) until the commit, so no other runner can move in between.
Names are kept apart because a Kafka worker's batch mixes partitions, each
tracked under its own name with its own increasing positions.

Inside a batch, views also buffer their row writes (a unit of work): rows are
kept by kind of statement in the batch and written at its end with one
``executemany`` per kind, in the order the view declares (``_WRITES``:
parents before children). Few round trips is what makes a batch cheap, and
on SQLite it matters twice: eventsourcing opens connections with a statement
cache of one, so every ``execute`` of a statement other than the previous
one prepares it again. A keyed row (a full-row upsert) replaces the batch's
earlier row with that key, so only the last state is written, as executing
them in order would leave it; other rows are written in the order given.
Reads inside a batch must see its writes: a view answers from its batch
cache (``_batch_cache``) where it keeps one, and ``_reading`` otherwise
writes the buffered rows first, so the database is current before it reads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking

__all__ = ["MemoryBatching", "SQLBatching"]


class SQLBatching:
    """Mixed into SQL views built on an eventsourcing tracking recorder.

    View commands write through ``with self._transaction(tracking) as c:``; the
    recorder base provides ``datastore`` and ``_insert_tracking``. A batch is
    per thread: other threads' reads and writes keep their own connections.
    """

    datastore: Any
    _insert_tracking: Any
    placeholder = "?"  # the backend's parameter marker; PostgreSQL views set "%s"
    # Buffered writes by kind, in the order a batch writes them (parents first).
    _WRITES: ClassVar[Mapping[str, str]] = {}

    def _sql(self, text: str) -> str:
        """``text`` written with ``?`` markers, in the backend's parameter style."""
        return text.replace("?", self.placeholder)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        """The batch's cursor when one is open (its buffered rows written first), else a read.

        Inside a batch the buffered rows are written before the read, so it
        sees every write of the batch so far.
        """
        cursor = self._batch_cursor()
        if cursor is not None:
            self._write_buffered(cursor)
            yield cursor
            return
        with self.datastore.transaction(commit=False) as c:
            yield c

    def _write(self, c: Any, kind: str, params: tuple[Any, ...], key: Any = None) -> None:
        """Executes ``_WRITES[kind]`` now, or (inside a batch) buffers it for the batch's end.

        With ``key`` (a full-row upsert's primary key) a later row with the same
        key replaces the buffered one: the last state is what order would leave.
        """
        state = self._batch_state()
        if getattr(state, "cursor", None) is None:
            c.execute(self._sql(self._WRITES[kind]), params)
            return
        rows = state.rows.get(kind)
        if key is None:
            if rows is None:
                rows = state.rows[kind] = []
            rows.append(params)
        else:
            if rows is None:
                rows = state.rows[kind] = {}
            rows[key] = params

    def _buffered(self, kind: str) -> Any:
        """The batch's buffered rows of ``kind`` (a dict when keyed), or None."""
        rows = getattr(self._batch_state(), "rows", None)
        return None if rows is None else rows.get(kind)

    def _batch_cache(self) -> dict[Any, Any] | None:
        """Objects a view keeps for reads inside the open batch; None outside one.

        Emptied whenever the buffered rows are written (the database is then
        current) and when the batch ends.
        """
        return getattr(self._batch_state(), "cache", None)

    def _write_buffered(self, cursor: Any) -> None:
        """Writes the batch's buffered rows, one executemany per kind, and forgets them."""
        state = self._batch_state()
        rows = getattr(state, "rows", None)
        if rows:
            for kind, statement in self._WRITES.items():
                buffered = rows.get(kind)
                if buffered:
                    values = buffered.values() if isinstance(buffered, dict) else buffered
                    cursor.executemany(self._sql(statement), list(values))
            state.rows = {}
        cache = getattr(state, "cache", None)
        if cache:
            cache.clear()

    def _batch_state(self) -> threading.local:
        state: threading.local | None = self.__dict__.get("_batch_local")
        if state is None:
            state = self.__dict__.setdefault("_batch_local", threading.local())
        return state

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Every command in this block (on this thread) commits in one transaction."""
        state = self._batch_state()
        if getattr(state, "cursor", None) is not None:
            yield  # already inside a batch: join it
            return
        with self.datastore.transaction(commit=True) as c:
            state.cursor = c
            state.joined = _Joined(c)
            state.tracked = {}
            state.pending = {}
            state.rows = {}
            state.cache = {}
            try:
                yield
                self._flush_batch(c)
                for tracking in state.pending.values():
                    self._insert_tracking(c, tracking)
            finally:
                state.cursor = None
                state.joined = None
                state.pending = {}
                state.rows = None
                state.cache = None
                self._discard_batch()

    def _flush_batch(self, cursor: Any) -> None:
        """Writes rows a view buffered during the batch (executemany per kind)."""
        self._write_buffered(cursor)

    def _discard_batch(self) -> None:
        """Forgets anything else a view kept for a batch that ended (committed or not)."""

    def _batch_cursor(self) -> Any:
        """The open batch's cursor on this thread, or None outside a batch."""
        return getattr(self._batch_state(), "cursor", None)

    def insert_tracking(self, tracking: Tracking) -> None:
        """Records a position alone (an event the view ignores), inside the batch if open."""
        with self._transaction(tracking):
            pass

    def _transaction(self, tracking: Tracking) -> contextlib.AbstractContextManager[Any]:
        """A cursor inside the batch's transaction, or a transaction of its own.

        The tracking record goes first, so a second delivery fails before any
        row is written. Inside a batch this runs once per event and view, so it
        does its work here and hands back the batch's cursor in a plain holder
        (a generator context manager costs more than most commands).
        """
        state = self._batch_state()
        cursor = getattr(state, "cursor", None)
        if cursor is None:
            return self._own_transaction(tracking)
        single_row = getattr(self.datastore, "single_row_tracking", False)
        name = tracking.application_name
        tracked = state.tracked.get(name, 0)
        if single_row and tracked and tracking.notification_id > tracked:
            # This name's first position in the batch was checked and written in
            # this write transaction, which no other runner can pass now: later
            # positions only need the highest one written, once, before the commit.
            state.pending[name] = tracking
        else:
            self._insert_tracking(cursor, tracking)
        if tracking.notification_id > tracked:
            state.tracked[name] = tracking.notification_id
        return state.joined  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def _own_transaction(self, tracking: Tracking) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            yield c


class _Joined:
    """The open batch's cursor as a context manager: entering joins, leaving does nothing."""

    __slots__ = ("cursor",)

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def __enter__(self) -> Any:
        return self.cursor

    def __exit__(self, *exc: object) -> None:
        return None


class MemoryBatching:
    """The same interface for in-memory views, whose commands are atomic already."""

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Nothing to group: each in-memory command applies under the recorder's lock."""
        yield
