"""The encounter read model in SQLite, beside the events in the same database file."""

from __future__ import annotations

from typing import Any

from projections.encounters.sql import DETAILS_UPGRADE, SQLEncounterQueries, create_statements
from projections.encounters.view import EncounterView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteEncounterView"]


class SQLiteEncounterView(SQLEncounterQueries, EncounterView, SQLiteProjectionTracking):
    """Tables ``encounters_v1``, ``encounter_locations_v1``, ``encounter_merges_v1``."""

    placeholder = "?"
    tracking_table = "encounters_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements()]

    def _create_table(self, c: Any) -> None:
        super()._create_table(c)
        c.execute("PRAGMA table_info(encounters_v1)")
        if "details" not in {row[1] for row in c.fetchall()}:
            c.execute(DETAILS_UPGRADE)
