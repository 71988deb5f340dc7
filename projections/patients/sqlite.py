"""The patient index in SQLite, beside the events in the same database file."""

from __future__ import annotations

from typing import Any

from projections.patients.sql import (
    CLAIMED_AT_UPGRADE,
    DETAILS_UPGRADE,
    MERGED_FROM_UPGRADE,
    SQLPatientQueries,
    create_statements,
)
from projections.patients.view import PatientView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLitePatientView"]


class SQLitePatientView(SQLPatientQueries, PatientView, SQLiteProjectionTracking):
    """Tables ``patients_v1`` and ``patient_identifiers_v1`` (see README for SQL)."""

    placeholder = "?"
    tracking_table = "patients_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements("TEXT")]

    def _create_table(self, c: Any) -> None:
        super()._create_table(c)
        c.execute("PRAGMA table_info(patient_identifiers_v1)")
        columns = {row[1] for row in c.fetchall()}
        if "claimed_at" not in columns:
            c.execute(CLAIMED_AT_UPGRADE)
        if "merged_from" not in columns:
            c.execute(MERGED_FROM_UPGRADE)
        c.execute("PRAGMA table_info(patients_v1)")
        if "details" not in {row[1] for row in c.fetchall()}:
            c.execute(DETAILS_UPGRADE)

    def create_table(self) -> None:
        super().create_table()
        self.upgrade()

    def has_key_columns(self, c: Any) -> bool:
        c.execute("PRAGMA table_info(patients_v1)")
        return "family_key" in {row[1] for row in c.fetchall()}
