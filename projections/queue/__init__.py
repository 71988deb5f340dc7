"""The queue read model: who waits at each location, in order, and each day's waits."""

from projections.queue.memory import MemoryQueueView
from projections.queue.postgres import PostgresQueueView
from projections.queue.projection import QueueProjection, priority_of
from projections.queue.sql import QUEUE_TABLES
from projections.queue.sqlite import SQLiteQueueView
from projections.queue.view import QueueEntry, QueueStats, QueueStay, QueueView, QueueVisit

__all__ = [
    "QUEUE_TABLES",
    "MemoryQueueView",
    "PostgresQueueView",
    "QueueEntry",
    "QueueProjection",
    "QueueStats",
    "QueueStay",
    "QueueView",
    "QueueVisit",
    "SQLiteQueueView",
    "priority_of",
]
