"""The billing read model in SQLite, beside the events in the same database file."""

from __future__ import annotations

from projections.billing.sql import SQLBillingQueries, create_statements
from projections.billing.view import BillingView
from projections.tracking import SQLiteProjectionTracking

__all__ = ["SQLiteBillingView"]


class SQLiteBillingView(SQLBillingQueries, BillingView, SQLiteProjectionTracking):
    """Tables ``billing_accounts_v1``, ``billing_lines_v1``, ``billing_diagnoses_v1`` (README)."""

    placeholder = "?"
    tracking_table = "billing_v1_tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *create_statements("INTEGER")]
