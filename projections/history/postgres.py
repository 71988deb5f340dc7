"""The patient history in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.history.sql import SQLHistoryQueries, create_statements
from projections.history.view import HistoryView
from projections.postgres_schema import PostgresView

__all__ = ["PostgresHistoryView"]


class PostgresHistoryView(SQLHistoryQueries, HistoryView, PostgresView):
    """Tables ``history_v1`` and its lookups (see README for SQL)."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements())
