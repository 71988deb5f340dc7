"""The billing read model's SQL, written once for SQLite and PostgreSQL.

Amounts are stored twice: as exact decimal text (``amount``, ``unit_amount``,
``quantity``: what the feed sent, never a float) and as integer cents
(``amount_cents``, ``balance_cents``) so that analysts' ``SUM()`` is exact on
either database. Totals are not stored: they are sums over the lines, so
they can never disagree with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Tracking

from engine.domain.values import Coded
from projections.batching import SQLBatching
from projections.billing.view import AccountRecord, BillingLine

__all__ = ["BILLING_TABLES", "SQLBillingQueries", "create_statements"]

BILLING_TABLES = (
    "billing_diagnoses_v1",
    "billing_lines_v1",
    "billing_accounts_v1",
    "billing_merges_v1",
)

_LINE_COLUMNS = (
    "account_id, seq, encounter_id, visit_number, transaction_id, transaction_type, kind, "
    "reversal, "
    "code, code_text, code_system, description, procedure_code, procedure_text, "
    "procedure_system, quantity, unit_amount, amount, currency, amount_cents, balance_cents, "
    "transaction_date, day, occurred_at, source_message_id"
)


def create_statements(bigint: str) -> list[str]:
    """DDL for the billing tables; ``bigint`` is the backend's 64-bit integer type."""
    return [
        "CREATE TABLE IF NOT EXISTS billing_accounts_v1 ("
        "account_id TEXT PRIMARY KEY, account_number TEXT NOT NULL, "
        "patient_id TEXT NOT NULL, opened_at TEXT NOT NULL, source_message_id TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_accounts_v1_number "
        "ON billing_accounts_v1 (account_number)",
        "CREATE INDEX IF NOT EXISTS billing_accounts_v1_patient "
        "ON billing_accounts_v1 (patient_id)",
        "CREATE TABLE IF NOT EXISTS billing_lines_v1 ("
        "account_id TEXT NOT NULL REFERENCES billing_accounts_v1(account_id), "
        "seq INTEGER NOT NULL, encounter_id TEXT NOT NULL, visit_number TEXT NOT NULL, "
        "transaction_id TEXT NOT NULL, "
        "transaction_type TEXT NOT NULL, kind TEXT NOT NULL, reversal INTEGER NOT NULL, "
        "code TEXT NOT NULL, code_text TEXT NOT NULL, code_system TEXT NOT NULL, "
        "description TEXT NOT NULL, procedure_code TEXT NOT NULL, "
        "procedure_text TEXT NOT NULL, procedure_system TEXT NOT NULL, "
        "quantity TEXT NOT NULL, unit_amount TEXT, amount TEXT NOT NULL, "
        f"currency TEXT NOT NULL, amount_cents {bigint} NOT NULL, "
        f"balance_cents {bigint} NOT NULL, transaction_date TEXT, day TEXT NOT NULL, "
        "occurred_at TEXT NOT NULL, source_message_id TEXT NOT NULL, "
        "PRIMARY KEY (account_id, seq))",
        "CREATE INDEX IF NOT EXISTS billing_lines_v1_day ON billing_lines_v1 (day)",
        "CREATE INDEX IF NOT EXISTS billing_lines_v1_code ON billing_lines_v1 (code)",
        "CREATE TABLE IF NOT EXISTS billing_diagnoses_v1 ("
        "account_id TEXT NOT NULL, seq INTEGER NOT NULL, ordinal INTEGER NOT NULL, "
        "code TEXT NOT NULL, code_text TEXT NOT NULL, code_system TEXT NOT NULL, "
        "PRIMARY KEY (account_id, seq, ordinal), "
        "FOREIGN KEY (account_id, seq) REFERENCES billing_lines_v1(account_id, seq))",
        "CREATE TABLE IF NOT EXISTS billing_merges_v1 ("
        "retired_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL)",
    ]


class SQLBillingQueries(SQLBatching):
    """Commands and queries of BillingView over a DB-API cursor with named rows."""

    # In the order a batch writes them: parents before the rows referring to them.
    _WRITES = {
        "accounts": "INSERT INTO billing_accounts_v1 VALUES (?,?,?,?,?) "
        "ON CONFLICT (account_id) DO NOTHING",
        "lines": f"INSERT INTO billing_lines_v1 ({_LINE_COLUMNS}) "
        f"VALUES ({','.join('?' * 25)}) ON CONFLICT (account_id, seq) DO NOTHING",
        "diagnoses": "INSERT INTO billing_diagnoses_v1 VALUES (?,?,?,?,?,?) "
        "ON CONFLICT (account_id, seq, ordinal) DO NOTHING",
        "merges": "INSERT INTO billing_merges_v1 VALUES (?,?) "
        "ON CONFLICT (retired_id) DO UPDATE SET survivor_id=excluded.survivor_id",
    }

    def open_account(self, account: AccountRecord, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write(
                c,
                "accounts",
                (
                    account.account_id,
                    account.account_number,
                    account.patient_id,
                    account.opened_at.isoformat(),
                    account.source_message_id,
                ),
            )

    def add_line(self, line: BillingLine, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write(c, "lines", _line_row(line))
            for n, d in enumerate(line.diagnoses, 1):
                self._write(
                    c, "diagnoses", (line.account_id, line.seq, n, d.code, d.text, d.system)
                )

    def record_merge(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write(c, "merges", (retired_id, survivor_id), retired_id)

    def find_accounts(self, account: str) -> list[AccountRecord]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT * FROM billing_accounts_v1 WHERE account_number=? OR account_id=? "
                    "ORDER BY account_id"
                ),
                (account, account),
            )
            return [_account(r) for r in c.fetchall()]

    def accounts_of(self, patient_ids: Iterable[str]) -> list[AccountRecord]:
        ids = sorted(set(patient_ids))
        if not ids:
            return []
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT * FROM billing_accounts_v1 "
                    f"WHERE patient_id IN ({','.join('?' * len(ids))}) "
                    "ORDER BY account_number, account_id"
                ),
                ids,
            )
            return [_account(r) for r in c.fetchall()]

    def lines_of(self, account_id: str) -> list[BillingLine]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT seq, ordinal, code, code_text, code_system FROM billing_diagnoses_v1 "
                    "WHERE account_id=? ORDER BY seq, ordinal"
                ),
                (account_id,),
            )
            diagnoses: dict[int, list[Coded]] = {}
            for r in c.fetchall():
                diagnoses.setdefault(r["seq"], []).append(
                    Coded(r["code"], r["code_text"], r["code_system"])
                )
            c.execute(
                self._sql("SELECT * FROM billing_lines_v1 WHERE account_id=? ORDER BY seq"),
                (account_id,),
            )
            return [_line(r, tuple(diagnoses.get(r["seq"], ()))) for r in c.fetchall()]

    def merges(self) -> dict[str, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT retired_id, survivor_id FROM billing_merges_v1")
            return {r["retired_id"]: r["survivor_id"] for r in c.fetchall()}


def _line_row(line: BillingLine) -> tuple[Any, ...]:
    procedure = line.procedure or Coded()
    return (
        line.account_id,
        line.seq,
        line.encounter_id,
        line.visit_number,
        line.transaction_id,
        line.transaction_type,
        line.kind,
        1 if line.reversal else 0,
        line.code.code,
        line.code.text,
        line.code.system,
        line.description,
        procedure.code,
        procedure.text,
        procedure.system,
        str(line.quantity),
        None if line.unit_amount is None else str(line.unit_amount),
        str(line.amount),
        line.currency,
        line.amount_cents,
        line.balance_cents,
        None if line.transaction_date is None else line.transaction_date.isoformat(),
        line.day,
        line.occurred_at.isoformat(),
        line.source_message_id,
    )


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _account(r: Any) -> AccountRecord:
    return AccountRecord(
        account_id=r["account_id"],
        account_number=r["account_number"],
        patient_id=r["patient_id"],
        opened_at=_time(r["opened_at"]),
        source_message_id=r["source_message_id"],
    )


def _line(r: Any, diagnoses: tuple[Coded, ...]) -> BillingLine:
    procedure = (
        Coded(r["procedure_code"], r["procedure_text"], r["procedure_system"])
        if r["procedure_code"]
        else None
    )
    return BillingLine(
        account_id=r["account_id"],
        seq=r["seq"],
        encounter_id=r["encounter_id"],
        visit_number=r["visit_number"],
        transaction_id=r["transaction_id"],
        transaction_type=r["transaction_type"],
        kind=r["kind"],
        reversal=bool(r["reversal"]),
        code=Coded(r["code"], r["code_text"], r["code_system"]),
        description=r["description"],
        procedure=procedure,
        diagnoses=diagnoses,
        quantity=Decimal(r["quantity"]),
        unit_amount=None if r["unit_amount"] is None else Decimal(r["unit_amount"]),
        amount=Decimal(r["amount"]),
        currency=r["currency"],
        amount_cents=int(r["amount_cents"]),
        balance_cents=int(r["balance_cents"]),
        transaction_date=None if r["transaction_date"] is None else _time(r["transaction_date"]),
        day=r["day"],
        occurred_at=_time(r["occurred_at"]),
        source_message_id=r["source_message_id"],
    )
