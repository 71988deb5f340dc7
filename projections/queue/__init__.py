"""The queue read model: who waits at each location, in order, and each day's waits."""

from projections.queue.memory import MemoryQueueView
from projections.queue.postgres import PostgresQueueView
from projections.queue.projection import QueueProjection, priority_of
from projections.queue.rules import QueueRules, configure_queues, queue_rules
from projections.queue.sql import QUEUE_TABLES
from projections.queue.sqlite import SQLiteQueueView
from projections.queue.view import (
    QueueEntry,
    QueueStats,
    QueueStay,
    QueueView,
    QueueVisit,
    SeenEntry,
)

__all__ = [
    "QUEUE_TABLES",
    "MemoryQueueView",
    "PostgresQueueView",
    "QueueEntry",
    "QueueProjection",
    "QueueRules",
    "QueueStats",
    "QueueStay",
    "QueueView",
    "QueueVisit",
    "SQLiteQueueView",
    "SeenEntry",
    "configure_queues",
    "priority_of",
    "queue_rules",
]
