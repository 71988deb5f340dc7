"""The billing read model in PostgreSQL, in the same database as the events."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed

from projections.billing.sql import SQLBillingQueries, create_statements
from projections.billing.view import BillingView
from projections.postgres_schema import PostgresView

__all__ = ["PostgresBillingView"]


class PostgresBillingView(SQLBillingQueries, BillingView, PostgresView):
    """The same tables as on SQLite; cents are BIGINT."""

    placeholder = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in create_statements("BIGINT"))
