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
from collections.abc import Iterable, Iterator, Mapping
from threading import get_ident
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking

__all__ = ["MemoryBatching", "SQLBatching", "shared_batch"]


class _Batch:
    """One open batch of one view: its cursor, positions and buffered rows (one thread's)."""

    __slots__ = ("cache", "cursor", "joined", "pending", "rows", "tracked")

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.joined = _Joined(cursor)
        self.tracked: dict[str, int] = {}  # highest position per name in this batch
        self.pending: dict[str, Tracking] = {}  # positions to write once, before the commit
        self.rows: dict[str, Any] = {}  # buffered rows by kind
        self.cache: dict[Any, Any] = {}  # what the view keeps for reads inside the batch


class SQLBatching:
    """Mixed into SQL views built on an eventsourcing tracking recorder.

    View commands write through ``with self._transaction(tracking) as c:``; the
    recorder base provides ``datastore`` and ``_insert_tracking``. A batch is
    per thread: other threads' reads and writes keep their own connections.
    The open batches are kept by thread id in a plain dict: every command
    asks for its thread's batch several times, and a ``threading.local``
    attribute costs several times a dict lookup.
    """

    datastore: Any
    _insert_tracking: Any
    placeholder = "?"  # the backend's parameter marker; PostgreSQL views set "%s"
    # Buffered writes by kind, in the order a batch writes them (parents first).
    _WRITES: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._batches: dict[int, _Batch] = {}  # open batch by thread id
        self._statements: dict[str, str] = {
            kind: self._sql(text) for kind, text in self._WRITES.items()
        }
        super().__init__(*args, **kwargs)

    def _sql(self, text: str) -> str:
        """``text`` written with ``?`` markers, in the backend's parameter style."""
        return text.replace("?", self.placeholder)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        """The batch's cursor when one is open (its buffered rows written first), else a read.

        Inside a batch the buffered rows are written before the read, so it
        sees every write of the batch so far.
        """
        state = self._batches.get(get_ident())
        if state is not None:
            self._write_buffered(state.cursor)
            yield state.cursor
            return
        with self.datastore.transaction(commit=False) as c:
            yield c

    def _write(self, c: Any, kind: str, params: Any, key: Any = None) -> None:
        """Executes ``_WRITES[kind]`` now, or (inside a batch) buffers it for the batch's end.

        With ``key`` (a full-row upsert's primary key) a later row with the same
        key replaces the buffered one: the last state is what order would leave.
        """
        state = self._batches.get(get_ident())
        if state is None:
            c.execute(self._statements[kind], params)
            return
        rows = state.rows.get(kind)
        if key is None:
            if rows is None:
                state.rows[kind] = [params]
            else:
                rows.append(params)
        elif rows is None:
            state.rows[kind] = {key: params}
        else:
            rows[key] = params

    def _buffered(self, kind: str) -> Any:
        """The batch's buffered rows of ``kind`` (a dict when keyed), or None."""
        state = self._batches.get(get_ident())
        return None if state is None else state.rows.get(kind)

    def _batch_cache(self) -> dict[Any, Any] | None:
        """Objects a view keeps for reads inside the open batch; None outside one.

        Emptied whenever the buffered rows are written (the database is then
        current) and when the batch ends.
        """
        state = self._batches.get(get_ident())
        return None if state is None else state.cache

    def _write_buffered(self, cursor: Any) -> None:
        """Writes the batch's buffered rows, one executemany per kind, and forgets them."""
        state = self._batches.get(get_ident())
        if state is None:
            return
        rows = state.rows
        if rows:
            for kind, statement in self._statements.items():
                buffered = rows.get(kind)
                if buffered:
                    values = buffered.values() if isinstance(buffered, dict) else buffered
                    cursor.executemany(statement, list(values))
            state.rows = {}
        if state.cache:
            state.cache.clear()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Every command in this block (on this thread) commits in one transaction."""
        if get_ident() in self._batches:
            yield  # already inside a batch (its own or a shared one): join it
            return
        with self.datastore.transaction(commit=True) as c:
            self._begin_batch(c)
            try:
                yield
                self._end_batch(c)
            finally:
                self._forget_batch()

    def _begin_batch(self, cursor: Any) -> None:
        """Opens this thread's batch on ``cursor`` (a transaction already begun)."""
        self._batches[get_ident()] = _Batch(cursor)

    def _end_batch(self, cursor: Any) -> None:
        """Writes what the batch buffered, then its pending positions (before the commit)."""
        self._flush_batch(cursor)
        state = self._batches[get_ident()]
        for tracking in state.pending.values():
            self._insert_tracking(cursor, tracking)
        state.pending = {}

    def _forget_batch(self) -> None:
        """Closes this thread's batch (committed or rolled back)."""
        self._batches.pop(get_ident(), None)
        self._discard_batch()

    def _flush_batch(self, cursor: Any) -> None:
        """Writes rows a view buffered during the batch (executemany per kind)."""
        self._write_buffered(cursor)

    def _discard_batch(self) -> None:
        """Forgets anything else a view kept for a batch that ended (committed or not)."""

    def _batch_cursor(self) -> Any:
        """The open batch's cursor on this thread, or None outside a batch."""
        state = self._batches.get(get_ident())
        return None if state is None else state.cursor

    def shared_batch_key(self) -> Any:
        """What views whose batches may share one transaction have in common, or None.

        SQLite views on one database file can: the file has a single writer
        anyway, so one transaction for all of them holds the write lock no
        longer than theirs in turn, and it commits once instead of once each.
        """
        datastore = self.datastore
        pool = getattr(datastore, "pool", None)
        name = getattr(pool, "db_name", None)
        if not name or getattr(pool, "is_sqlite_memory_mode", True):
            return None
        single_row = getattr(datastore, "single_row_tracking", False)
        return ("sqlite", name, single_row)

    def insert_tracking(self, tracking: Tracking) -> None:
        """Records a position alone (an event the view ignores), inside the batch if open."""
        state = self._batches.get(get_ident())
        if state is None:
            with self._own_transaction(tracking):
                pass
        else:
            self._track(state, tracking)

    def _transaction(self, tracking: Tracking) -> contextlib.AbstractContextManager[Any]:
        """A cursor inside the batch's transaction, or a transaction of its own.

        The tracking record goes first, so a second delivery fails before any
        row is written. Inside a batch this runs once per event and view, so it
        does its work here and hands back the batch's cursor in a plain holder
        (a generator context manager costs more than most commands).
        """
        state = self._batches.get(get_ident())
        if state is None:
            return self._own_transaction(tracking)
        self._track(state, tracking)
        return state.joined

    def _track(self, state: _Batch, tracking: Tracking) -> None:
        name = tracking.application_name
        position = tracking.notification_id
        tracked = state.tracked.get(name, 0)
        if tracked and position > tracked and self.datastore.single_row_tracking:
            # This name's first position in the batch was checked and written in
            # this write transaction, which no other runner can pass now: later
            # positions only need the highest one written, once, before the commit.
            state.pending[name] = tracking
        else:
            self._insert_tracking(state.cursor, tracking)
        if position > tracked:
            state.tracked[name] = position

    @contextlib.contextmanager
    def _own_transaction(self, tracking: Tracking) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            yield c


@contextlib.contextmanager
def shared_batch(views: Iterable[Any]) -> Iterator[list[Any]]:
    """One transaction (on this thread) for every batch of ``views`` that can share one.

    Views with the same ``shared_batch_key`` (SQLite views in one database
    file: the live store's read models, or a rebuild's scratch file) write
    their rows and positions through the first one's connection, and commit
    once: each commit costs more than most of a small round's rows. The
    views' own ``batch()`` calls inside join it. Exactly-once holds as in a
    view's own batch: every position is written in the transaction of its
    rows; if anything fails, every view's rows and positions roll back
    together (the caller then applies them view by view, as before). Views
    that share with no other (memory, PostgreSQL) are left to their own batches.
    Yields the views that joined a shared transaction.
    """
    groups: dict[Any, list[SQLBatching]] = {}
    for view in views:
        if isinstance(view, SQLBatching) and get_ident() not in view._batches:
            key = view.shared_batch_key()
            if key is not None:
                groups.setdefault(key, []).append(view)
    joined: list[Any] = []
    with contextlib.ExitStack() as stack:
        for members in groups.values():
            if len(members) > 1:
                stack.enter_context(_one_transaction(members))
                joined.extend(members)
        yield joined


@contextlib.contextmanager
def _one_transaction(views: list[SQLBatching]) -> Iterator[None]:
    with views[0].datastore.transaction(commit=True) as c:
        opened: list[SQLBatching] = []
        try:
            for view in views:
                view._begin_batch(c)
                opened.append(view)
            yield
            for view in views:
                view._end_batch(c)
        finally:
            for view in opened:
                view._forget_batch()


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
