"""The message log in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.messages.sql import SQLMessageLogQueries, create_statements
from projections.messages.view import MessageLogView
from projections.postgres_schema import PostgresView

__all__ = ["PostgresMessageLogView"]


class PostgresMessageLogView(SQLMessageLogQueries, MessageLogView, PostgresView):
    """Tables ``message_log_v1`` and ``message_keys_v1`` (docs/console.md)."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements())
