"""The queue read model in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.postgres_schema import PostgresView
from projections.queue.sql import SQLQueueQueries, create_statements
from projections.queue.view import QueueView

__all__ = ["PostgresQueueView"]


class PostgresQueueView(SQLQueueQueries, QueueView, PostgresView):
    """Tables ``queue_visits_v2`` and ``queue_stays_v2`` (see README for SQL)."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements())
