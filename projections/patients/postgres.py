"""The patient index in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.patients.sql import (
    CLAIMED_AT_UPGRADE,
    DETAILS_UPGRADE,
    MERGED_FROM_UPGRADE,
    SQLPatientQueries,
    create_statements,
)
from projections.patients.view import PatientView
from projections.postgres_schema import PostgresView

__all__ = ["PostgresPatientView"]


class PostgresPatientView(SQLPatientQueries, PatientView, PostgresView):
    """Tables ``patients_v1`` and ``patient_identifiers_v1`` (see README for SQL)."""

    placeholder = "%s"
    key_type = 'TEXT COLLATE "C"'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements("TEXT"))
        # Only when the column is missing: ALTER TABLE locks the table exclusively
        # even when there is nothing to add, and every process start runs this.
        upgrade = (
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'patient_identifiers_v1' "
            f"AND column_name = 'claimed_at') THEN {CLAIMED_AT_UPGRADE}; END IF; END $$"
        )
        self.sql_create_statements.append(Composed([SQL(upgrade)]))
        details = (
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'patients_v1' "
            f"AND column_name = 'details') THEN {DETAILS_UPGRADE}; END IF; END $$"
        )
        self.sql_create_statements.append(Composed([SQL(details)]))
        merged_from = (
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'patient_identifiers_v1' "
            f"AND column_name = 'merged_from') THEN {MERGED_FROM_UPGRADE}; END IF; END $$"
        )
        self.sql_create_statements.append(Composed([SQL(merged_from)]))

    def upgrade_schema(self) -> None:
        self.upgrade()

    def has_key_columns(self, c: Any) -> bool:
        c.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'patients_v1' AND column_name = 'family_key'"
        )
        return c.fetchone() is not None
