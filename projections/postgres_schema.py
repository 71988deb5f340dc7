"""One process at a time changes carelog's PostgreSQL schema.

Every process that opens the store runs its create statements: the library's
CREATE TYPE, CREATE TABLE IF NOT EXISTS and CREATE OR REPLACE FUNCTION, and
each read model's tables and indexes. None of these is safe beside a twin
running at the same moment: PostgreSQL answers one of them "duplicate key
value violates unique constraint pg_type_typname_nsp_index" or "tuple
concurrently updated", and that process fails to start. Several processes do
start together: a group of ``carelog serve`` behind one load balancer, the
workers of a parallel replay, a supervisor restarting everything at once.

So they take turns, under one advisory lock for the whole schema: held on a
connection of its own while the statements run (they span several of the
library's transactions), released when they end or when a dying process's
connection closes. Waiting costs a start a few milliseconds.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresRecorder, PostgresTrackingRecorder

SCHEMA_LOCK = 0x6361_726C_6F67  # "carlog": any bigint no other code in the database uses


def lock_schema(cursor: Any) -> None:
    """Takes the schema lock until ``cursor``'s transaction ends (a one-transaction change)."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))


class SerialSchema(PostgresRecorder):
    """A recorder whose ``create_table`` runs under the schema lock (module docstring)."""

    def create_table(self) -> None:
        with self.datastore.get_connection() as conn:  # autocommit: a session lock, no transaction
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                super().create_table()
                self.upgrade_schema()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    def upgrade_schema(self) -> None:
        """Brings tables made by an older release up to date (still under the lock); none here."""


class PostgresView(SerialSchema, PostgresTrackingRecorder):
    """The base of every read model's PostgreSQL view: a tracking recorder, created in turn."""
