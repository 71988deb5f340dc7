"""The observation read model in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.observations.sql import SQLObservationQueries, create_statements
from projections.observations.view import ObservationView
from projections.postgres_schema import PostgresView

__all__ = ["PostgresObservationView"]


class PostgresObservationView(SQLObservationQueries, ObservationView, PostgresView):
    """The same tables as on SQLite."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements())

    def upgrade_schema(self) -> None:
        self.upgrade()

    def has_id_column(self, c: Any) -> bool:
        c.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'observations_v1' AND column_name = 'observation_id'"
        )
        return c.fetchone() is not None
