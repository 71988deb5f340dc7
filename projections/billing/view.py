"""The billing read model: accounts, their FT1 lines and totals, kept per backend.

Money is never a float. Each line keeps its amounts as exact decimal text (as
sent) and, for summing, as integer cents (``amount_cents``, ``balance_cents``),
so ``SUM()`` in SQLite (which has no decimal type) is exact. Sign rules, per
FT1-6 transaction type (HL7 table 0017):

- CG charge: ``+amount`` (a reversal is sent with a negative quantity and
  amount, so it subtracts);
- CD credit: ``-|amount|`` (senders write credits positive or negative; both
  lower the balance);
- PY payment: ``-amount`` (a negative payment is a reversed payment and raises
  the balance again);
- AJ adjustment: ``+amount`` as signed by the sender (a write-off is negative).

balance = charges - credits - payments + adjustments, where charges, payments
and adjustments are the signed sums and credits the sum of absolute amounts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from eventsourcing.persistence import Tracking, TrackingRecorder

from engine.domain.values import Coded, FinancialTransaction

__all__ = [
    "AccountRecord",
    "AccountStatement",
    "BillingLine",
    "BillingView",
    "Totals",
    "line_from_transaction",
    "statement",
]

KINDS = {"CG": "charge", "CD": "credit", "PY": "payment", "AJ": "adjustment"}
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A billing account as the read model knows it."""

    account_id: str
    account_number: str
    patient_id: str
    opened_at: datetime
    source_message_id: str


@dataclass(frozen=True, slots=True)
class BillingLine:
    """One FT1 on an account, with its effect on the balance in cents.

    ``seq`` is the event's position in the account's history (1 is the
    opening), so (account_id, seq) identifies the line. ``amount`` is the
    extended amount FT1-11 (else unit amount x quantity); ``amount_cents`` is it
    in cents (half-up to the cent); ``balance_cents`` is its signed effect.
    """

    account_id: str
    seq: int
    encounter_id: str
    visit_number: str
    transaction_id: str
    transaction_type: str
    kind: str
    reversal: bool
    code: Coded
    description: str
    procedure: Coded | None
    diagnoses: tuple[Coded, ...]
    quantity: Decimal
    unit_amount: Decimal | None
    amount: Decimal
    currency: str
    amount_cents: int
    balance_cents: int
    transaction_date: datetime | None
    day: str
    occurred_at: datetime
    source_message_id: str


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums in cents for one group of lines in one currency."""

    currency: str
    charges: int = 0
    credits: int = 0
    payments: int = 0
    adjustments: int = 0
    balance: int = 0
    lines: int = 0


@dataclass(frozen=True, slots=True)
class AccountStatement:
    """An account's lines and its totals: overall, per visit, per code and per day.

    Each totals mapping is keyed by the group (visit = encounter id, named in
    ``visit_numbers``; code =
    FT1-7 ``system|code``, day = ISO date of FT1-4) and then lists one Totals
    per currency, sorted.
    """

    account: AccountRecord
    lines: tuple[BillingLine, ...]
    totals: tuple[Totals, ...]
    by_visit: dict[str, tuple[Totals, ...]] = field(default_factory=dict)
    by_code: dict[str, tuple[Totals, ...]] = field(default_factory=dict)
    by_day: dict[str, tuple[Totals, ...]] = field(default_factory=dict)
    visit_numbers: dict[str, str] = field(default_factory=dict)


def _cents(amount: Decimal) -> int:
    return int((amount / _CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line_from_transaction(
    *,
    account_id: str,
    seq: int,
    encounter_id: str,
    visit_number: str,
    transaction: FinancialTransaction,
    credited: bool,
    occurred_at: datetime,
    source_message_id: str,
) -> BillingLine:
    """The line an Account event records; ``credited`` for Account.ChargeCredited.

    Classification is by FT1-6, so events stored before payments and
    adjustments had their own event classes (ChargePosted carrying PY or AJ)
    read the same as new ones. A type outside table 0017 counts as a charge,
    or as a credit when the domain credited it.
    """
    t = transaction
    kind = KINDS.get(t.transaction_type.upper(), "credit" if credited else "charge")
    if t.extended_amount is not None:
        amount, currency = t.extended_amount.amount, t.extended_amount.currency
    elif t.unit_amount is not None:
        amount, currency = t.unit_amount.amount * t.quantity, t.unit_amount.currency
    else:
        amount, currency = Decimal(0), ""
    if currency == "" and t.unit_amount is not None:
        currency = t.unit_amount.currency
    cents = _cents(amount)
    effect = {
        "charge": cents,
        "credit": -abs(cents),
        "payment": -cents,
        "adjustment": cents,
    }[kind]
    when = t.transaction_date or occurred_at
    return BillingLine(
        account_id=account_id,
        seq=seq,
        encounter_id=encounter_id,
        visit_number=visit_number,
        transaction_id=t.transaction_id,
        transaction_type=t.transaction_type,
        kind=kind,
        reversal=t.quantity < 0 or amount < 0,
        code=t.code,
        description=t.description,
        procedure=t.procedure_code,
        diagnoses=tuple(t.diagnosis_codes),
        quantity=t.quantity,
        unit_amount=t.unit_amount.amount if t.unit_amount is not None else None,
        amount=amount,
        currency=currency.upper(),
        amount_cents=cents,
        balance_cents=effect,
        transaction_date=t.transaction_date,
        day=when.date().isoformat(),
        occurred_at=occurred_at,
        source_message_id=source_message_id,
    )


def _sum(lines: Iterable[BillingLine]) -> tuple[Totals, ...]:
    by_currency: dict[str, dict[str, int]] = {}
    for line in lines:
        t = by_currency.setdefault(
            line.currency,
            {"charges": 0, "credits": 0, "payments": 0, "adjustments": 0, "balance": 0, "lines": 0},
        )
        if line.kind == "charge":
            t["charges"] += line.amount_cents
        elif line.kind == "credit":
            t["credits"] += abs(line.amount_cents)
        elif line.kind == "payment":
            t["payments"] += line.amount_cents
        else:
            t["adjustments"] += line.amount_cents
        t["balance"] += line.balance_cents
        t["lines"] += 1
    return tuple(Totals(c, **v) for c, v in sorted(by_currency.items()))


def _grouped(lines: Sequence[BillingLine], key: str) -> dict[str, tuple[Totals, ...]]:
    groups: dict[str, list[BillingLine]] = {}
    for line in lines:
        if key == "visit":
            k = line.encounter_id
        elif key == "code":
            k = f"{line.code.system}|{line.code.code}"
        else:
            k = line.day
        groups.setdefault(k, []).append(line)
    return {k: _sum(v) for k, v in sorted(groups.items())}


def statement(account: AccountRecord, lines: Sequence[BillingLine]) -> AccountStatement:
    """The account's statement: every total derives from the lines, in cents."""
    ordered = tuple(sorted(lines, key=lambda line: line.seq))
    return AccountStatement(
        account=account,
        lines=ordered,
        totals=_sum(ordered),
        by_visit=_grouped(ordered, "visit"),
        by_code=_grouped(ordered, "code"),
        by_day=_grouped(ordered, "day"),
        visit_numbers={
            line.encounter_id: line.visit_number for line in ordered if line.visit_number
        },
    )


class BillingView(TrackingRecorder, ABC):
    """Commands take a Tracking and apply atomically with it; queries return records."""

    @abstractmethod
    def open_account(self, account: AccountRecord, tracking: Tracking) -> None:
        """Adds an account (Account.Opened)."""

    @abstractmethod
    def add_line(self, line: BillingLine, tracking: Tracking) -> None:
        """Adds one FT1 line; the same (account, seq) twice keeps the first."""

    @abstractmethod
    def record_merge(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        """Remembers that ``retired_id`` was merged into ``survivor_id`` (Patient.Merged)."""

    @abstractmethod
    def find_accounts(self, account: str) -> list[AccountRecord]:
        """Accounts whose number (PID-18.1, else the visit number) or id is ``account``."""

    @abstractmethod
    def accounts_of(self, patient_ids: Iterable[str]) -> list[AccountRecord]:
        """Accounts opened for any of ``patient_ids``, by account number."""

    @abstractmethod
    def lines_of(self, account_id: str) -> list[BillingLine]:
        """The account's lines in the order they were posted."""

    @abstractmethod
    def merges(self) -> dict[str, str]:
        """Every merge seen: retired patient id -> survivor id."""

    def statement_of(self, account: AccountRecord) -> AccountStatement:
        """The account with its lines and totals."""
        return statement(account, self.lines_of(account.account_id))
