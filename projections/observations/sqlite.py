"""The observation read model in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.observations.sql import SQLObservationQueries, create_statements
from projections.observations.view import ObservationView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteObservationView"]


class SQLiteObservationView(SQLObservationQueries, ObservationView, SQLiteProjectionTracking):
    """Tables ``observation_reports_v1`` and ``observations_v1`` (see README for SQL)."""

    placeholder = "?"
    tracking_table = "observations_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements()]
