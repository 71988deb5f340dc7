"""The queue read model in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.queue.sql import SQLQueueQueries, create_statements
from projections.queue.view import QueueView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteQueueView"]


class SQLiteQueueView(SQLQueueQueries, QueueView, SQLiteProjectionTracking):
    """Tables ``queue_visits_v2`` and ``queue_stays_v2`` (see README for SQL)."""

    placeholder = "?"
    tracking_table = "queue_v2_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements()]
