"""FHIR reads by id of the types searches return: Observation, ChargeItem and Account.

Every ``fullUrl`` and reference carelog serves must resolve, so each type
that appears in a response can be read by its id. ``meta.versionId`` and the
``ETag`` are the stored version of the aggregate the resource comes from
(the lab report of an Observation, the account of a ChargeItem), which is
also what ``If-Match`` on a write is checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.account import Account as FhirAccount

from adapters.fhir.routes import versioned
from adapters.http.billing import cancelled_lines, charge_item
from adapters.http.context import touched
from adapters.http.fhir_json import DecimalFhirResponse, operation_outcome
from adapters.http.fhir_observation import observation_resource
from adapters.http.fhir_output import checked, instant
from projections.billing.view import AccountRecord, BillingLine, BillingView
from projections.merges import survivor_of
from projections.observations.view import ObservationView

__all__ = ["ACCOUNT_SYSTEM", "account_resource", "reads_router"]

ACCOUNT_SYSTEM = "urn:carelog:account-number"
VersionOf = Callable[[str], int | None]


def account_resource(
    account: AccountRecord, lines: list[BillingLine], patient_id: str
) -> dict[str, Any]:
    """An account (PID-18) as a FHIR R4 Account (checked in tests: fhir_output).

    carelog keeps no account status, so an account that exists is ``active``;
    its last change is its newest line, else its opening.
    """
    changed: datetime = max((line.occurred_at for line in lines), default=account.opened_at)
    data: dict[str, Any] = {
        "resourceType": "Account",
        "id": account.account_id,
        "meta": {
            "lastUpdated": instant(changed),
            "source": f"urn:uuid:{account.source_message_id}",
        },
        "identifier": [{"system": ACCOUNT_SYSTEM, "value": account.account_number}],
        "status": "active",
        "name": account.account_number,
        "subject": [{"reference": f"Patient/{patient_id}"}],
        "servicePeriod": {"start": instant(account.opened_at)},
    }
    checked(FhirAccount, data, same=False)
    return data


def _not_found(kind: str, resource_id: str) -> JSONResponse:
    return operation_outcome(404, "not-found", f"{kind}/{resource_id} is not known")


def _answer(
    request: Request,
    resource: dict[str, Any],
    version_id: str,
    version_of: VersionOf | None,
    *patients: str,
) -> JSONResponse:
    touched(request, *patients)
    lookup = (lambda _: version_of(version_id)) if version_of is not None else None
    body, headers = versioned(resource, lookup)
    return DecimalFhirResponse(body, headers=headers)


def reads_router(views: Mapping[str, Any], version_of: VersionOf | None = None) -> APIRouter:
    """``GET /fhir/Observation/{id}``, ``/fhir/ChargeItem/{id}``, ``/fhir/Account/{id}``.

    Each route is served only when its read model is (apps over a subset of them).
    """
    router = APIRouter()

    if "observations" in views:
        observations: ObservationView = views["observations"]

        @router.get("/fhir/Observation/{observation_id}")
        def read_observation(request: Request, observation_id: str) -> JSONResponse:
            row = observations.observation(observation_id)
            if row is None:
                return _not_found("Observation", observation_id)
            subject = survivor_of(row.report.patient_id, observations.merges())
            resource = observation_resource(row, subject)
            return _answer(
                request,
                resource,
                row.report.report_id,
                version_of,
                subject,
                row.report.patient_id,
            )

    if "billing" in views:
        billing: BillingView = views["billing"]

        def _account(account_id: str) -> AccountRecord | None:
            found = [a for a in billing.find_accounts(account_id) if a.account_id == account_id]
            return found[0] if found else None

        @router.get("/fhir/Account/{account_id}")
        def read_account(request: Request, account_id: str) -> JSONResponse:
            account = _account(account_id)
            if account is None:
                return _not_found("Account", account_id)
            subject = survivor_of(account.patient_id, billing.merges())
            resource = account_resource(account, billing.lines_of(account_id), subject)
            return _answer(request, resource, account_id, version_of, subject, account.patient_id)

        @router.get("/fhir/ChargeItem/{item_id}")
        def read_charge_item(request: Request, item_id: str) -> JSONResponse:
            account_id, _, seq = item_id.rpartition("-")
            account = _account(account_id) if seq.isdigit() else None
            lines = billing.lines_of(account_id) if account is not None else []
            line = next((x for x in lines if x.seq == int(seq or 0)), None)
            if account is None or line is None or line.kind not in ("charge", "credit"):
                return _not_found("ChargeItem", item_id)
            subject = survivor_of(account.patient_id, billing.merges())
            cancelled = line.seq in cancelled_lines(lines)
            resource = charge_item(account, line, subject, cancelled=cancelled)
            return _answer(request, resource, account_id, version_of, subject, account.patient_id)

    return router
