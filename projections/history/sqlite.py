"""The patient history in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.history.sql import SQLHistoryQueries, create_statements
from projections.history.view import HistoryView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteHistoryView"]


class SQLiteHistoryView(SQLHistoryQueries, HistoryView, SQLiteProjectionTracking):
    """Tables ``history_v1`` and its lookups (see README for SQL)."""

    placeholder = "?"
    tracking_table = "history_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements()]
