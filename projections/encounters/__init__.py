"""The encounter read model: one row per visit, its location history, merges followed."""

from projections.encounters.memory import MemoryEncounterView
from projections.encounters.postgres import PostgresEncounterView
from projections.encounters.projection import EncounterProjection
from projections.encounters.sql import ENCOUNTER_TABLES
from projections.encounters.sqlite import SQLiteEncounterView
from projections.encounters.view import EncounterRecord, EncounterView, LocationStay

__all__ = [
    "ENCOUNTER_TABLES",
    "EncounterProjection",
    "EncounterRecord",
    "EncounterView",
    "LocationStay",
    "MemoryEncounterView",
    "PostgresEncounterView",
    "SQLiteEncounterView",
]
