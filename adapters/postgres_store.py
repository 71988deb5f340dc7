"""carelog's PostgreSQL specifics: an application recorder that reads many aggregates at
once and inserts a commit's events cheaply.

``PostgresEventRecorder`` is eventsourcing's application recorder plus
``select_events_many`` (engine.ports.BulkEventReader), as ``sqlite_store`` gives
SQLite: one ``= ANY(...)`` query for every patient and visit a batch of
messages names, instead of one round trip per aggregate, which on PostgreSQL
was half the time of a group commit. Bootstrap selects it through
eventsourcing's ``APPLICATION_RECORDER_TOPIC``.

Its insert keeps the library's table, rows and guarantees (the events table's
EXCLUSIVE lock, so notification ids are issued in commit order; the NOTIFY
that wakes listeners; the ids returned) but costs much less CPU per commit:

- the rows go as four plain arrays in binary (``unnest(uuid[], bigint[],
  text[], bytea[])``) rather than one array of composite values, which psycopg
  dumps as text in Python, value by value (a third of the extra CPU that
  PostgreSQL ingestion spent over SQLite's);
- BEGIN, the lock, NOTIFY, the insert and COMMIT go in one pipeline with one
  sync: one round trip, and the lock is held only while the server runs them,
  not across a round trip to the client (several ``carelog serve`` processes
  queue for that lock);
- statements are rendered to bytes once and prepared on the server.

eventsourcing fence (PostgreSQL recorder): ``insert_events`` is the library's
public method, rewritten; it still calls the library's private
``_insert_events`` hook first, inside the same transaction, as the library's
own ``insert_events`` does (an application recorder adds nothing there; a
process recorder subclass would insert its tracking row), so that stays
where the library expects it. The public API offers no way to send the rows
as binary arrays in one pipeline. tests/contract compares the stored rows and
ids with the library's recorder on the same events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.postgres import PostgresFactory as LibraryPostgresFactory
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from engine.config import postgres_url_params as url_params
from projections.postgres_schema import SerialSchema

__all__ = [
    "FACTORY_TOPIC",
    "RECORDER_TOPIC",
    "PostgresEventRecorder",
    "PostgresFactory",
]

RECORDER_TOPIC = "adapters.postgres_store:PostgresEventRecorder"
FACTORY_TOPIC = "adapters.postgres_store:PostgresFactory"


class PostgresFactory(LibraryPostgresFactory):
    """eventsourcing's factory, whose connections also get the URL's query parameters.

    The library builds its pool from host, port, database, user and password
    only, so ``?sslmode=verify-full`` would silently be dropped. The pool is
    not open yet when the factory is made (it opens on first use), so adding
    the parameters here reaches every connection, the first included.
    """

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        params = url_params(self.env)
        if params:
            kwargs = self.datastore.pool.kwargs
            assert isinstance(kwargs, dict)
            kwargs.update(params)


_CHUNK = 1000


class PostgresEventRecorder(SerialSchema, PostgresApplicationRecorder):
    """The application recorder, able to read many aggregates in one query.

    Its tables, type and function are created in turn with other processes
    (``projections.postgres_schema``).

    Its ``insert_events`` is the library's (same statements, same order, same
    transaction) with the rows sent as binary column arrays and one round
    trip; see the module's docstring.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        id_type = SQL(self.datastore.originator_id_type)  # "uuid" or "text": checked there
        self._text_ids = self.datastore.originator_id_type == "text"
        lock_timeout, lock = self.lock_table_statements  # the library's, as it runs them
        self._composed: dict[str, Any] = {
            "lock_timeout": lock_timeout,
            "lock": lock,
            "notify": SQL("NOTIFY {0}").format(Identifier(self.channel_name)),
            "insert": SQL(
                "INSERT INTO {0} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(%b::{1}[], %b::bigint[], %b::text[], %b::bytea[]) "
                "RETURNING notification_id"
            ).format(table, id_type),
            "select_many": SQL(
                "SELECT originator_id, originator_version, topic, state FROM {0} "
                "WHERE originator_id = ANY(%b::{1}[]) ORDER BY originator_id, originator_version"
            ).format(table, id_type),
            # The head as the first row (k = 0), then the events: one statement, one
            # snapshot, one round trip.
            "head_and_events": SQL(
                "SELECT 0 AS k, (SELECT max(notification_id) FROM {0}) AS head, "
                "NULL::{1} AS originator_id, NULL::bigint AS originator_version, "
                "NULL::text AS topic, NULL::bytea AS state "
                "UNION ALL "
                "SELECT 1, NULL, originator_id, originator_version, topic, state FROM {0} "
                "WHERE originator_id = ANY(%b::{1}[]) "
                "ORDER BY k, originator_id, originator_version"
            ).format(table, id_type),
        }
        self._rendered: dict[str, bytes] = {}

    def _sql(self, conn: Connection[Any], name: str) -> bytes:
        """A statement as bytes, rendered once (a Composed is rendered at every execute)."""
        rendered = self._rendered.get(name)
        if rendered is None:
            rendered = self._rendered[name] = self._composed[name].as_bytes(conn)
        return rendered

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Inserts the events in one transaction and returns their notification ids.

        Every statement is queued in one pipeline and sent with one sync. If one
        fails (an event that already exists: ``IntegrityError``), the server
        skips the rest, COMMIT included, and the transaction is rolled back.
        """
        if not stored_events:
            return None
        if self._text_ids:
            originator_ids: list[Any] = [str(e.originator_id) for e in stored_events]
        else:
            originator_ids = [e.originator_id for e in stored_events]
        columns = (
            originator_ids,
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        with self.datastore.get_connection() as conn:
            before = [self._sql(conn, name) for name in ("lock_timeout", "lock", "notify")]
            insert = self._sql(conn, "insert")
            inserting = conn.cursor(row_factory=tuple_row)
            try:
                with conn.pipeline(), conn.transaction():
                    with conn.cursor() as curs:
                        self._insert_events(curs, stored_events, **kwargs)
                        for statement in before:
                            curs.execute(statement, prepare=True)
                    inserting.execute(insert, columns, prepare=True)
                return [row[0] for row in inserting.fetchall()]
            finally:
                inserting.close()

    def select_head_and_events(
        self, originator_ids: Sequence[UUID]
    ) -> tuple[int, list[StoredEvent]]:
        """The store's head (0: empty) and ``select_events_many``, on one connection.

        Up to ``_CHUNK`` ids this is one statement (the head as its first row),
        so the head and the events come from one snapshot in one round trip.
        More ids: the head is read first (read committed: the events are at
        least as new as that head, as when ingestion read them after a head
        check of its own).
        """
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            if len(originator_ids) <= _CHUNK:
                curs.execute(
                    self._sql(conn, "head_and_events"),
                    (self._ids(originator_ids),),
                    prepare=True,
                )
                rows = curs.fetchall()
                return rows[0][1] or 0, [
                    StoredEvent(
                        originator_id=row[2],
                        originator_version=row[3],
                        topic=row[4],
                        state=bytes(row[5]),
                    )
                    for row in rows[1:]
                ]
            curs.execute(self.max_notification_id_statement)
            row = curs.fetchone()
            assert row is not None
            head = row[0] or 0
            return head, self._select_many(conn, curs, originator_ids)

    def select_events_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates, grouped by aggregate, in version order."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            return self._select_many(conn, curs, originator_ids)

    def _ids(self, originator_ids: Sequence[UUID]) -> list[Any]:
        if self._text_ids:
            return [str(i) for i in originator_ids]
        return list(originator_ids)

    def _select_many(
        self, conn: Connection[Any], curs: Cursor[Any], originator_ids: Sequence[UUID]
    ) -> list[StoredEvent]:
        statement = self._sql(conn, "select_many")
        out: list[StoredEvent] = []
        for start in range(0, len(originator_ids), _CHUNK):
            curs.execute(statement, (self._ids(originator_ids[start : start + _CHUNK]),))
            out.extend(
                StoredEvent(
                    originator_id=row[0],
                    originator_version=row[1],
                    topic=row[2],
                    state=bytes(row[3]),
                )
                for row in curs.fetchall()
            )
        return out
