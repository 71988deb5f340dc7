"""The billing read model: accounts, FT1 lines and exact totals per account, visit, code, day."""

from projections.billing.memory import MemoryBillingView
from projections.billing.postgres import PostgresBillingView
from projections.billing.projection import BillingProjection
from projections.billing.sqlite import SQLiteBillingView
from projections.billing.view import (
    AccountRecord,
    AccountStatement,
    BillingLine,
    BillingView,
    Totals,
)

__all__ = [
    "AccountRecord",
    "AccountStatement",
    "BillingLine",
    "BillingProjection",
    "BillingView",
    "MemoryBillingView",
    "PostgresBillingView",
    "SQLiteBillingView",
    "Totals",
]
