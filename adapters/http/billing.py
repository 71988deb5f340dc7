"""Billing over HTTP: ``/api/billing/accounts/{account}``, and the FHIR ChargeItem mapping.

Amounts under /api are strings with their currency (``{"value": "136.10",
"currency": "USD"}``), never JSON floats. FHIR ChargeItem follows the HL7
v2-to-FHIR IG's FT1 mapping (see ``charge_item``); its decimals are exact
JSON numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.chargeitem import ChargeItem

from adapters.http.context import touched
from adapters.http.fhir_codes import codeable
from adapters.http.fhir_output import checked, instant
from adapters.http.problem import problem
from engine.domain.values import Coded
from projections.billing.view import AccountRecord, BillingLine, BillingView, Totals
from projections.merges import survivor_of

__all__ = ["account_json", "billing_router", "cancelled_lines", "charge_item", "charge_items"]


def _money(value: Decimal | None, currency: str) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"value": str(value), "currency": currency or None}


def _cents(cents: int, currency: str) -> dict[str, Any]:
    return {"value": str(Decimal(cents).scaleb(-2)), "currency": currency or None}


def _coded_json(code: Coded | None) -> dict[str, str] | None:
    if code is None or not code.code:
        return None
    return {"code": code.code, "display": code.text, "system": code.system}


def _line_json(line: BillingLine) -> dict[str, Any]:
    return {
        "seq": line.seq,
        "transaction_id": line.transaction_id,
        "transaction_type": line.transaction_type,
        "kind": line.kind,
        "reversal": line.reversal,
        "code": _coded_json(line.code),
        "description": line.description,
        "procedure_code": _coded_json(line.procedure),
        "diagnosis_codes": [_coded_json(d) for d in line.diagnoses],
        "quantity": str(line.quantity),
        "unit_amount": _money(line.unit_amount, line.currency),
        "extended_amount": _money(line.amount, line.currency),
        "balance_effect": _cents(line.balance_cents, line.currency),
        "transaction_date": line.transaction_date.isoformat() if line.transaction_date else None,
        "day": line.day,
        "encounter_id": line.encounter_id or None,
        "visit_number": line.visit_number or None,
        "occurred_at": line.occurred_at.isoformat(),
        "source_message_id": line.source_message_id,
    }


def _totals_json(totals: tuple[Totals, ...]) -> list[dict[str, Any]]:
    return [
        {
            "currency": t.currency or None,
            "charges": _cents(t.charges, t.currency),
            "credits": _cents(t.credits, t.currency),
            "payments": _cents(t.payments, t.currency),
            "adjustments": _cents(t.adjustments, t.currency),
            "balance": _cents(t.balance, t.currency),
            "lines": t.lines,
        }
        for t in totals
    ]


def _grouped_json(groups: dict[str, tuple[Totals, ...]], key: str) -> list[dict[str, Any]]:
    return [{key: k or None, "totals": _totals_json(v)} for k, v in groups.items()]


def account_json(view: BillingView, account: AccountRecord) -> dict[str, Any]:
    """The account, its lines and its totals (overall, per visit, per code, per day).

    ``patient_id`` is the patient the account belongs to now: the survivor
    when the patient it was opened for has been merged.
    """
    s = view.statement_of(account)
    return {
        "account": account.account_number,
        "account_id": account.account_id,
        "patient_id": survivor_of(account.patient_id, view.merges()),
        "opened_at": account.opened_at.isoformat(),
        "lines": [_line_json(line) for line in s.lines],
        "totals": _totals_json(s.totals),
        "totals_by_visit": [
            {"visit_number": s.visit_numbers.get(k) or None, **g}
            for k, g in zip(s.by_visit, _grouped_json(s.by_visit, "encounter_id"), strict=True)
        ],
        "totals_by_code": _grouped_json(s.by_code, "code"),
        "totals_by_day": _grouped_json(s.by_day, "day"),
    }


def cancelled_lines(lines: list[BillingLine]) -> set[int]:
    """Seqs of charges and the later reversal or credit that exactly cancels each.

    Exactly: same FT1-7 code and currency, the same amount in absolute value.
    Each reversal cancels the earliest such charge not yet cancelled; a
    partial one cancels nothing and stays a negative billable item.
    """
    out: set[int] = set()
    for r in lines:
        if r.kind not in ("charge", "credit") or not (r.reversal or r.kind == "credit"):
            continue
        for c in lines:
            if (
                c.seq < r.seq
                and c.seq not in out
                and c.kind == "charge"
                and not c.reversal
                and (c.code.code, c.code.system) == (r.code.code, r.code.system)
                and c.amount_cents == abs(r.amount_cents)
                and c.currency == r.currency
            ):
                out.update((c.seq, r.seq))
                break
    return out


def charge_items(
    account: AccountRecord, lines: list[BillingLine], patient_id: str
) -> list[dict[str, Any]]:
    """The account's charge and credit lines as ChargeItems (cancelled pairs marked)."""
    cancelled = cancelled_lines(lines)
    return [
        charge_item(account, line, patient_id, cancelled=line.seq in cancelled)
        for line in lines
        if line.kind in ("charge", "credit")
    ]


def _fhir_money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"value": amount, "currency": currency} if currency else {"value": amount}


def charge_item(
    account: AccountRecord, line: BillingLine, patient_id: str, *, cancelled: bool
) -> dict[str, Any]:
    """One charge or credit line as a FHIR R4 ChargeItem (checked in tests: fhir_output).

    FT1-2 -> identifier, FT1-7 (+ FT1-25 when different) -> code, FT1-4 ->
    occurrenceDateTime, FT1-10 -> quantity, FT1-11 -> priceOverride (Money),
    FT1-19 -> reason, PV1-19 -> context (Encounter), PID-18 -> account.
    ``status`` is billable, or entered-in-error for a charge and the reversal
    or credit that exactly cancels it (``cancelled``); a credit is a negative
    quantity and price, so summing billable items gives the net charges.
    """
    negative = line.kind == "credit"
    quantity = -abs(line.quantity) if negative else line.quantity
    amount = -abs(line.amount) if negative else line.amount
    data: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": f"{line.account_id}-{line.seq}",
        "status": "entered-in-error" if cancelled else "billable",
        "code": codeable(line.code, line.procedure),
        "subject": {"reference": f"Patient/{patient_id}"},
        "quantity": {"value": quantity},
        "priceOverride": _fhir_money(amount, line.currency),
        "meta": {"source": f"urn:uuid:{line.source_message_id}"},
        "enteredDate": instant(line.occurred_at),
        "account": [
            {"reference": f"Account/{account.account_id}", "display": account.account_number}
        ],
    }
    if line.transaction_id:
        data["identifier"] = [{"value": line.transaction_id}]
    if line.encounter_id:
        data["context"] = {"reference": f"Encounter/{line.encounter_id}"}
    if line.transaction_date is not None:
        data["occurrenceDateTime"] = instant(line.transaction_date)
    if line.diagnoses:
        data["reason"] = [codeable(d) for d in line.diagnoses]
    if line.description:
        data["note"] = [{"text": line.description}]
    checked(ChargeItem, data, same=False)
    return data


def billing_router(views: Mapping[str, Any]) -> APIRouter:
    """Routes over the ``billing`` view: the account API (FHIR searches: fhir_billing_search)."""
    router = APIRouter()
    view: BillingView = views["billing"]

    @router.get("/api/billing/accounts/{account}")
    def get_account(request: Request, account: str) -> JSONResponse:
        found = view.find_accounts(account)
        if not found:
            return problem(404, f"account {account} is not known")
        if len(found) > 1:
            ids = ", ".join(a.account_id for a in found)
            return problem(
                409, f"account number {account} names several accounts; use an id: {ids}"
            )
        body = account_json(view, found[0])
        touched(request, body["patient_id"])
        return JSONResponse(body)

    return router
