"""The observation read model in SQLite, beside the events in the same database file."""

from __future__ import annotations

from typing import Any

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

    def create_table(self) -> None:
        super().create_table()
        self.upgrade()

    def has_id_column(self, c: Any) -> bool:
        c.execute("PRAGMA table_info(observations_v1)")
        return "observation_id" in {row[1] for row in c.fetchall()}
