"""The observation read model: one row per OBX, corrections replacing, merges followed."""

from projections.observations.memory import MemoryObservationView
from projections.observations.postgres import PostgresObservationView
from projections.observations.projection import ObservationProjection
from projections.observations.sqlite import SQLiteObservationView
from projections.observations.view import ObservationRow, ObservationView, ReportRecord

__all__ = [
    "MemoryObservationView",
    "ObservationProjection",
    "ObservationRow",
    "ObservationView",
    "PostgresObservationView",
    "ReportRecord",
    "SQLiteObservationView",
]
