"""The encounter read model in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.encounters.sql import SQLEncounterQueries, create_statements
from projections.encounters.view import EncounterView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteEncounterView"]


class SQLiteEncounterView(SQLEncounterQueries, EncounterView, SQLiteProjectionTracking):
    """Tables ``encounters_v1``, ``encounter_locations_v1``, ``encounter_merges_v1``."""

    placeholder = "?"
    tracking_table = "encounters_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements()]
