"""The message log read model: every received message, accepted or refused, by index."""

from projections.messages.memory import MemoryMessageLogView
from projections.messages.postgres import PostgresMessageLogView
from projections.messages.projection import MessageLogProjection, business_keys
from projections.messages.sql import MESSAGE_TABLES
from projections.messages.sqlite import SQLiteMessageLogView
from projections.messages.view import KEY_KINDS, LogEntry, LogFilter, MessageLogView

__all__ = [
    "KEY_KINDS",
    "MESSAGE_TABLES",
    "LogEntry",
    "LogFilter",
    "MemoryMessageLogView",
    "MessageLogProjection",
    "MessageLogView",
    "PostgresMessageLogView",
    "SQLiteMessageLogView",
    "business_keys",
]
