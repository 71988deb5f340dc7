"""The patient index in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.patients.sql import SQLPatientQueries, create_statements
from projections.patients.view import PatientView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLitePatientView"]


class SQLitePatientView(SQLPatientQueries, PatientView, SQLiteProjectionTracking):
    """Tables ``patients_v1`` and ``patient_identifiers_v1`` (see README for SQL)."""

    placeholder = "?"
    tracking_table = "patients_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements("TEXT")]
