"""Detailed financial transactions (DFT^P03) as decisions on Account aggregates.

The account is PID-18 (patient account number), else the visit number PV1-19;
each FT1 becomes one event on the account by its FT1-6 type (HL7 table 0017):
ChargePosted (CG), ChargeCredited (CD, or a CG reversal with a negative
quantity or amount), PaymentPosted (PY), AdjustmentPosted (AJ). Amounts are
Decimal, never float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from engine.application.adt import (
    Loader,
    MessageContext,
    missing_field,
    patient_from_pid,
    visit_id,
)
from engine.domain.account import Account
from engine.domain.ids import CARELOG_NAMESPACE
from engine.domain.values import FinancialTransaction, Money
from engine.errors import ValidationError
from engine.hl7.datatypes import read_cwe, read_cx, read_datetime, read_decimal, read_money
from engine.hl7.message import Message, Separators, component_of
from engine.ports import Fault

__all__ = ["post_transactions"]


def _account_number(msg: Message) -> str:
    account = read_cx(msg.field("PID", 18), msg.separators)
    if account.value:
        return account.key()
    visit = read_cx(msg.field("PV1", 19), msg.separators)
    return visit.key() if visit.value else ""


def _number(msg: Message, position: int, field: int, text: str, fallback: Decimal) -> Decimal:
    try:
        value = read_decimal(component_of(text, msg.separators))
    except ValueError as e:
        raise _data_error(position, field, str(e)) from e
    return fallback if value is None else value


def _money(position: int, field: int, text: str, seps: Separators) -> Money | None:
    try:
        return read_money(text, seps)
    except ValueError as e:
        raise _data_error(position, field, str(e)) from e


def _data_error(position: int, field: int, detail: str) -> ValidationError:
    text = f"FT1-{field}: {detail}"
    return ValidationError(text, [Fault(102, "DATA_TYPE", text, "FT1", position, field, 0, 1)])


def _transaction(
    msg: Message, position: int, ft1: list[str], ctx: MessageContext
) -> FinancialTransaction:
    seps = msg.separators

    def f(n: int) -> str:
        return ft1[n] if n < len(ft1) else ""

    if not component_of(f(6), seps):
        raise ValidationError(
            "FT1-6 transaction type is required",
            [
                Fault(
                    101,
                    "REQUIRED_FIELD_MISSING",
                    "FT1-6 transaction type is required",
                    "FT1",
                    position,
                    6,
                )
            ],
        )
    extended = _money(position, 11, f(11), seps)
    unit = _money(position, 12, f(12), seps)
    procedure = read_cwe(f(25), seps)
    return FinancialTransaction(
        transaction_id=component_of(f(2), seps),
        transaction_type=component_of(f(6), seps),
        code=read_cwe(f(7), seps),
        description=component_of(f(8), seps),
        quantity=_number(msg, position, 10, f(10), Decimal(1)),
        extended_amount=extended,
        unit_amount=unit,
        diagnosis_codes=tuple(read_cwe(r, seps) for r in f(19).split(seps.repetition) if r),
        procedure_code=procedure if procedure.code else None,
        transaction_date=read_datetime(component_of(f(4), seps), ctx.site_timezone),
    )


def post_transactions(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
    """DFT^P03: every FT1 posted to the patient's account."""
    ft1s = [(p, seg) for p, seg in enumerate(msg.segments, 1) if seg[0] == "FT1"]
    if not ft1s:
        raise missing_field(msg, "FT1", 0, "a DFT^P03 needs at least one FT1 segment")
    number = _account_number(msg)
    if not number:
        raise missing_field(msg, "PID", 18, "PID-18 account number (or PV1-19) is required")
    transactions = [_transaction(msg, p, seg, ctx) for p, seg in ft1s]
    patient = patient_from_pid(msg, ctx, load)
    account_id = uuid5(CARELOG_NAMESPACE, f"account\x1f{number}")
    account: Account | None = load(account_id)
    if account is None:
        account = Account.open(
            account_id,
            account_number=number.split("|", 1)[1],
            patient_id=patient.id,
            occurred_at=ctx.occurred_at,
            source_message_id=ctx.message_id,
        )
    encounter_id: UUID | None = visit_id(msg) if msg.has("PV1") else None
    visit_number = read_cx(msg.field("PV1", 19), msg.separators).value if encounter_id else ""
    for transaction in transactions:
        account.post(
            transaction,
            encounter_id=encounter_id,
            visit_number=visit_number,
            occurred_at=ctx.occurred_at,
            source_message_id=ctx.message_id,
        )
    return [patient, account]
