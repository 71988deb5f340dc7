"""carelog's PostgreSQL specifics: an application recorder that reads many aggregates at once.

``PostgresEventRecorder`` is eventsourcing's application recorder plus
``select_events_many`` (engine.ports.BulkEventReader), as ``sqlite_store`` gives
SQLite: one ``= ANY(...)`` query for every patient and visit a batch of
messages names, instead of one round trip per aggregate, which on PostgreSQL
was half the time of a group commit. Bootstrap selects it through
eventsourcing's ``APPLICATION_RECORDER_TOPIC``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

__all__ = ["RECORDER_TOPIC", "PostgresEventRecorder"]

RECORDER_TOPIC = "adapters.postgres_store:PostgresEventRecorder"
_CHUNK = 1000


class PostgresEventRecorder(PostgresApplicationRecorder):
    """The application recorder, able to read many aggregates in one query.

    It also builds the rows of an insert before taking the events table's lock
    (the library builds them after): that lock is held until the commit, so
    several ``carelog serve`` processes queue behind each other for it, and
    whatever is done while it is held is done by one process at a time.
    """

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(query=self.insert_events_statement, params=(rows,))

    def select_head_and_events(
        self, originator_ids: Sequence[UUID]
    ) -> tuple[int, list[StoredEvent]]:
        """The store's head (0: empty) and ``select_events_many``, on one connection.

        The head is read first (read committed: the events are at least as new
        as that head, as when ingestion read them after a head check of its own).
        """
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.max_notification_id_statement)
            row = curs.fetchone()
            assert row is not None
            head = row["max"] or 0
            return head, self._select_many(curs, originator_ids)

    def select_events_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates, grouped by aggregate, in version order."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._select_many(curs, originator_ids)

    def _select_many(
        self, curs: Cursor[DictRow], originator_ids: Sequence[UUID]
    ) -> list[StoredEvent]:
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        out: list[StoredEvent] = []
        for start in range(0, len(originator_ids), _CHUNK):
            chunk = list(originator_ids[start : start + _CHUNK])
            curs.execute(statement, (chunk,))
            rows = curs.fetchall()
            out.extend(
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in rows
            )
        return out
