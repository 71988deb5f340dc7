"""The patient history: every event that concerns a patient, with its source message."""

from projections.history.memory import MemoryHistoryView
from projections.history.postgres import PostgresHistoryView
from projections.history.projection import HistoryProjection
from projections.history.sql import HISTORY_TABLES
from projections.history.sqlite import SQLiteHistoryView
from projections.history.view import HistoryEntry, HistoryEvent, HistoryView, MessageInfo

__all__ = [
    "HISTORY_TABLES",
    "HistoryEntry",
    "HistoryEvent",
    "HistoryProjection",
    "HistoryView",
    "MemoryHistoryView",
    "MessageInfo",
    "PostgresHistoryView",
    "SQLiteHistoryView",
]
