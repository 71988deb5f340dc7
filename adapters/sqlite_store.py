"""carelog's SQLite specifics: a recorder that reads many aggregates at once, and
the durability setting of read models that share the events' database file.

``SQLiteEventRecorder`` is eventsourcing's application recorder plus
``select_events_many`` (engine.ports.BulkEventReader): one SELECT for every
patient and visit a batch of messages names, instead of one per aggregate.
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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
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

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.executemany(
            self.insert_events_statement,
            [(s.originator_id.hex, s.originator_version, s.topic, s.state) for s in stored_events],
        )
        c.execute(self.select_max_notification_id_statement)
        last = int(c.fetchone()[0])
        return list(range(last - len(stored_events) + 1, last + 1))

    def select_events_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates, grouped by aggregate, in version order."""
        out: list[StoredEvent] = []
        for start in range(0, len(originator_ids), _CHUNK):
            chunk = originator_ids[start : start + _CHUNK]
            statement = (
                f"SELECT originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} "
                f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                f"ORDER BY originator_id, originator_version"
            )
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, [i.hex for i in chunk])
                rows = c.fetchall()
            out.extend(
                StoredEvent(
                    originator_id=self.convert_originator_id(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in rows
            )
        return out


class _NormalSyncPool(SQLiteConnectionPool):
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
    datastore = recorder.datastore
    old = datastore.pool
    datastore.pool = _NormalSyncPool(
        db_name=old.db_name,
        lock_timeout=old.lock_timeout,
        pool_size=old.pool_size,
        max_overflow=old.max_overflow,
        pool_timeout=old.pool_timeout,
        max_age=old.max_age,
        pre_ping=old.pre_ping,
    )
    old.close()
    return recorder
