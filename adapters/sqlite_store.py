"""carelog's SQLite specifics: a recorder that reads many aggregates at once, and
the durability setting of read models that share the events' database file.

``SQLiteEventRecorder`` is eventsourcing's application recorder plus
``select_events_many`` (engine.ports.BulkEventReader): one SELECT for every
patient and visit a batch of messages names, instead of one per aggregate, read
in the same transaction as the store's head (``select_head_and_events``).
Bootstrap selects it through eventsourcing's ``APPLICATION_RECORDER_TOPIC``.

The event store keeps SQLite's default ``synchronous=FULL`` (in WAL mode: the
WAL is fsync'd at every commit), so an acknowledged message survives a power
cut. A read model can be rebuilt from the events and writes its tracking row
in the same transaction as its rows, so losing its last few transactions to a
power cut only means they are applied again. Its connections therefore use
``synchronous=NORMAL``: no fsync per projection transaction, so the projection
no longer holds the database's single write lock through an fsync per event
while ingestion waits behind it.

This does not weaken the events' durability: in WAL mode every commit
appends to one log, and each FULL commit of the event store fsyncs the log up
to and including itself, whatever connection wrote the frames before it.

eventsourcing fence (SQLite recorder and pools): the one module that overrides
or reads the library's private SQLite names, because its public API has no
place for these choices:

- ``_insert_events``: the library's application recorder runs one
  ``INSERT ... RETURNING`` per event; the public ``insert_events`` takes a
  cursor it opens itself, so the statement it runs can only be changed here;
- ``_create_connection``: the pool's connections are opened there, and no
  setting reaches ``cached_statements``;
- the pool's ``_pool`` deque and ``_put_condition``: which idle connection is
  lent next has no public setting.

tests/contract compares this recorder's rows and ids with the library's own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, PersistenceError, StoredEvent
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

__all__ = ["RECORDER_TOPIC", "SQLiteEventRecorder", "relax_read_model_sync"]

RECORDER_TOPIC = "adapters.sqlite_store:SQLiteEventRecorder"
_CHUNK = 500  # well under SQLite's default limit of 32,766 bound parameters


class SQLiteEventRecorder(SQLiteApplicationRecorder):
    """The application recorder, able to read many aggregates in one query.

    It also inserts a commit's events with one ``executemany`` rather than one
    statement each (every statement releases and retakes the GIL, which costs
    more than the insert under load). Their notification ids follow from the
    head read after the insert, inside the same write transaction: rowids of a
    table without AUTOINCREMENT are max + 1 for each row, events are never
    deleted, and nobody else can insert while this transaction holds the lock.
    """

    def __init__(self, datastore: SQLiteDatastore, *args: Any, **kwargs: Any) -> None:
        super().__init__(datastore, *args, **kwargs)
        self._head_and_events_statements: dict[int, str] = {}
        pool = datastore.pool
        if type(pool) is SQLiteConnectionPool and not pool.is_sqlite_memory_mode:
            _replace_pool(datastore, _EventStorePool)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.executemany(
            self.insert_events_statement,
            [
                (_id_param(s.originator_id), s.originator_version, s.topic, s.state)
                for s in stored_events
            ],
        )
        c.execute(self.select_max_notification_id_statement)
        last = int(c.fetchone()[0])
        return list(range(last - len(stored_events) + 1, last + 1))

    def select_events_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates, grouped by aggregate, in version order."""
        with self.datastore.transaction(commit=False) as c:
            return self._select_many(c, originator_ids)

    def select_head_and_events(
        self, originator_ids: Sequence[UUID]
    ) -> tuple[int, list[StoredEvent]]:
        """The store's head (0: empty) and ``select_events_many``, in one snapshot.

        Ingestion checks its cache against the head before every batch and reads
        what the cache lacks. Up to 500 ids this is one statement (the head as
        the first row of a ``UNION ALL``), which in autocommit mode is its own
        read transaction: no BEGIN and rollback, ~11 us against ~31 for the head
        read and the events read on their own. More ids: one read transaction.
        """
        if len(originator_ids) > _CHUNK:
            with self.datastore.transaction(commit=False) as c:
                c.execute(self.select_max_notification_id_statement)
                head = c.fetchone()[0] or 0
                return head, self._select_many(c, originator_ids)
        pool = self.datastore.pool
        connection = pool.get_connection(is_writer=False)
        try:
            with connection.cursor() as c:
                c.execute(
                    self._head_and_events_statement(len(originator_ids)),
                    [i.hex for i in originator_ids],
                )
                rows = c.fetchall()
        except sqlite3.Error as e:
            raise PersistenceError(e) from e
        finally:
            pool.put_connection(connection)
        head = rows[0][0] or 0  # the head's row sorts first: its originator_id is NULL
        convert = self.convert_originator_id
        return head, [
            StoredEvent(
                originator_id=convert(row[1]),
                originator_version=row[2],
                topic=row[3],
                state=row[4],
            )
            for row in rows[1:]
        ]

    def _head_and_events_statement(self, count: int) -> str:
        statement = self._head_and_events_statements.get(count)
        if statement is None:
            table = self.events_table_name
            statement = f"SELECT MAX(rowid), NULL, NULL, NULL, NULL FROM {table}"
            if count:
                statement += (
                    f" UNION ALL SELECT NULL, originator_id, originator_version, topic, state "
                    f"FROM {table} WHERE originator_id IN ({','.join('?' * count)}) "
                    f"ORDER BY 2, 3"
                )
            self._head_and_events_statements[count] = statement
        return statement

    def _select_many(self, c: SQLiteCursor, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        convert = self.convert_originator_id
        for start in range(0, len(originator_ids), _CHUNK):
            chunk = originator_ids[start : start + _CHUNK]
            statement = (
                f"SELECT originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} "
                f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                f"ORDER BY originator_id, originator_version"
            )
            c.execute(statement, [i.hex for i in chunk])
            out.extend(
                StoredEvent(
                    originator_id=convert(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in c.fetchall()
            )
        return out


def _id_param(originator_id: UUID | str) -> str:
    """An originator id as the events table stores it (as the library writes it)."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


_STATEMENT_CACHE = 128  # prepared statements kept per connection (Python's default)


class _CachedStatementsPool(SQLiteConnectionPool):
    """eventsourcing's pool, with connections that keep their prepared statements.

    eventsourcing opens connections with ``cached_statements=True``, which
    ``sqlite3`` reads as a cache of one statement: a commit's BEGIN, head
    read, SELECT, INSERT and head read again were each parsed and prepared
    anew (~3 us a statement), several times per commit. Otherwise the
    connection is made exactly as eventsourcing makes it.
    """

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # auto-commit mode: transactions BEGIN explicitly
                cached_statements=_STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            cursor = c.cursor()
            cursor.execute("PRAGMA journal_mode;")
            if cursor.fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


class _EventStorePool(_CachedStatementsPool):
    """A pool that lends out the connection returned last, not the one idle longest.

    Each SQLite connection has its own page cache, which stays valid only while
    no other connection writes. eventsourcing's pool goes round its idle
    connections in turn: when several threads use the pool (writer, HTTP
    reads, audit), the writer's next read or commit often started on a
    connection whose cache another connection's commit had made stale, and
    read its pages again. Lent last-used-first, the writer's transactions
    mostly run on one connection with its pages cached.
    """

    def put_connection(self, conn: SQLiteConnection) -> None:
        super().put_connection(conn)
        with self._put_condition:
            if self._pool and self._pool[-1] is conn:
                self._pool.rotate(1)  # the next ``popleft`` lends it again


class _NormalSyncPool(_CachedStatementsPool):
    """A pool whose connections commit without an fsync (``synchronous=NORMAL``)."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection.cursor().execute("PRAGMA synchronous=NORMAL")
        return connection


def relax_read_model_sync(recorder: Any) -> Any:
    """Gives a read model's SQLite recorder connections with ``synchronous=NORMAL``.

    Returns the same recorder; its old pool (tables already created) is closed.
    Use it only for recorders whose content can be derived again from the events.
    """
    _replace_pool(recorder.datastore, _NormalSyncPool)
    return recorder


def _replace_pool(datastore: SQLiteDatastore, pool_class: type[SQLiteConnectionPool]) -> None:
    """Gives ``datastore`` a pool of ``pool_class`` with its old pool's settings; closes the old."""
    old = datastore.pool
    datastore.pool = pool_class(
        db_name=old.db_name,
        lock_timeout=old.lock_timeout,
        pool_size=old.pool_size,
        max_overflow=old.max_overflow,
        pool_timeout=old.pool_timeout,
        max_age=old.max_age,
        pre_ping=old.pre_ping,
    )
    old.close()
