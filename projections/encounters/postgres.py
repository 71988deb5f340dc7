"""The encounter read model in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.encounters.sql import DETAILS_UPGRADE, SQLEncounterQueries, create_statements
from projections.encounters.view import EncounterView
from projections.postgres_schema import PostgresView

__all__ = ["PostgresEncounterView"]


class PostgresEncounterView(SQLEncounterQueries, EncounterView, PostgresView):
    """Tables ``encounters_v1``, ``encounter_locations_v1``, ``encounter_merges_v1``."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements())
        upgrade = (
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'encounters_v1' "
            f"AND column_name = 'details') THEN {DETAILS_UPGRADE}; END IF; END $$"
        )
        self.sql_create_statements.append(Composed([SQL(upgrade)]))
