"""The appointments read model in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.appointments.sql import SQLAppointmentQueries, create_statements
from projections.appointments.view import AppointmentView
from projections.postgres_schema import PostgresView

__all__ = ["PostgresAppointmentView"]


class PostgresAppointmentView(SQLAppointmentQueries, AppointmentView, PostgresView):
    """Tables ``appointments_v1`` and ``appointment_merges_v1``."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements())
