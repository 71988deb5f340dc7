"""The appointments read model in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.appointments.sql import SQLAppointmentQueries, create_statements
from projections.appointments.view import AppointmentView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteAppointmentView"]


class SQLiteAppointmentView(SQLAppointmentQueries, AppointmentView, SQLiteProjectionTracking):
    """Tables ``appointments_v1`` and ``appointment_merges_v1``."""

    placeholder = "?"
    tracking_table = "appointments_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements()]
