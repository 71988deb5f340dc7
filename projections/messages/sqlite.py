"""The message log in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.messages.sql import SQLMessageLogQueries, create_statements
from projections.messages.view import MessageLogView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteMessageLogView"]


class SQLiteMessageLogView(SQLMessageLogQueries, MessageLogView, SQLiteProjectionTracking):
    """Tables ``message_log_v1`` and ``message_keys_v1`` (docs/console.md)."""

    placeholder = "?"
    tracking_table = "messages_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements()]
