"""FHIR searches over the billing read model: ``ChargeItem`` and ``Account``.

ChargeItem: ``patient``/``subject`` (indexed: ``billing_accounts_v1_patient``,
the merged group's accounts), then ``identifier`` (FT1-2, which carries no
system: ``value`` or ``|value``) and ``status`` (billable, entered-in-error)
judged on the items as served. Account: ``patient``/``subject`` or
``identifier`` (``[urn:carelog:account-number|]number``, indexed:
``billing_accounts_v1_number``), and ``status`` (carelog keeps no account
status, so every account is ``active``). Comma = OR, repeated = AND.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from adapters.http.billing import charge_items
from adapters.http.context import touched
from adapters.http.fhir_checks import Check, any_of, identifier_check, status_check
from adapters.http.fhir_json import DecimalFhirResponse, operation_outcome
from adapters.http.fhir_reads import account_resource
from adapters.http.fhir_search import (
    PAGE_CONTROLS,
    Page,
    patient_search,
    search_page,
    searchset,
    unsupported_parameters,
)
from projections.billing.view import AccountRecord, BillingView
from projections.merges import merged_group, survivor_of

__all__ = [
    "ACCOUNT_SEARCH_PARAMETERS",
    "CHARGE_ITEM_SEARCH_PARAMETERS",
    "billing_search_router",
]

CHARGE_ITEM_SEARCH_PARAMETERS = {
    "patient": "reference",
    "subject": "reference",
    "identifier": "token",
    "status": "token",
}
ACCOUNT_SEARCH_PARAMETERS = CHARGE_ITEM_SEARCH_PARAMETERS
_CHARGE_STATUSES = {"planned", "billable", "not-billable", "aborted", "billed",
                    "entered-in-error", "unknown"}  # fmt: skip
_ACCOUNT_STATUSES = {"active", "inactive", "entered-in-error", "on-hold", "unknown"}


def _filter(params: QueryParams, statuses: set[str], kind: str) -> Check:
    """``identifier`` and ``status`` on the served resource; ValueError when one is bad."""
    checks: list[Check] = []
    for value in params.getlist("identifier"):
        alternatives = [identifier_check(v) for v in value.split(",") if v]
        if not alternatives:
            raise ValueError("identifier needs [system|]value")
        checks.append(any_of(alternatives))
    for value in params.getlist("status"):
        checks.append(status_check(value, statuses, kind))
    return lambda resource: all(c(resource) for c in checks)


def billing_search_router(views: Mapping[str, Any]) -> APIRouter:
    """``GET /fhir/ChargeItem?...`` and ``GET /fhir/Account?...`` over the ``billing`` view."""
    router = APIRouter()
    view: BillingView = views["billing"]

    def items(accounts: list[AccountRecord], subject: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for account in accounts:
            out.extend(charge_items(account, view.lines_of(account.account_id), subject))
        return out

    @router.get("/fhir/ChargeItem")
    def search_charge_items(request: Request) -> JSONResponse:
        patient_id, error = patient_search(request, frozenset(CHARGE_ITEM_SEARCH_PARAMETERS))
        if error is not None:
            return error
        try:
            wanted = _filter(request.query_params, _CHARGE_STATUSES, "ChargeItem")
        except ValueError as e:
            return operation_outcome(400, "invalid", str(e))
        merges = view.merges()
        subject = survivor_of(patient_id, merges)
        touched(request, patient_id)
        found = items(view.accounts_of(merged_group(patient_id, merges)), subject)
        page = search_page(request, [r for r in found if wanted(r)], "", False)
        if not isinstance(page, Page):
            return page
        return DecimalFhirResponse(searchset(request, "ChargeItem", page))

    @router.get("/fhir/Account")
    def search_accounts(request: Request) -> JSONResponse:
        params = request.query_params
        refusal = unsupported_parameters(
            request, {*ACCOUNT_SEARCH_PARAMETERS, *PAGE_CONTROLS, "_format"}
        )
        if refusal is not None:
            return refusal
        try:
            wanted = _filter(params, _ACCOUNT_STATUSES, "Account")
        except ValueError as e:
            return operation_outcome(400, "invalid", str(e))
        merges = view.merges()
        if params.getlist("patient") or params.getlist("subject"):
            patient_id, error = patient_search(request, frozenset(ACCOUNT_SEARCH_PARAMETERS))
            if error is not None:
                return error
            accounts = view.accounts_of(merged_group(patient_id, merges))
            touched(request, patient_id)
        else:
            numbers = {v.rpartition("|")[2] for v in params.getlist("identifier")}
            if len(numbers) != 1:
                return operation_outcome(
                    400, "required", "Account search needs one patient={id} or one identifier="
                )
            number = next(iter(numbers))
            accounts = [a for a in view.find_accounts(number) if a.account_number == number]
        resources = []
        for account in accounts:
            subject = survivor_of(account.patient_id, merges)
            touched(request, subject, account.patient_id)
            resource = account_resource(account, view.lines_of(account.account_id), subject)
            if wanted(resource):
                resources.append(resource)
        page = search_page(request, resources, "", False)
        if not isinstance(page, Page):
            return page
        return DecimalFhirResponse(searchset(request, "Account", page))

    return router
