"""``GET /fhir/Patient/{id}/$everything``: a patient's compartment in one searchset Bundle.

The patient, then every visit, result, lab report, account and charge carelog holds for
them, including those the feed sent under patients merged into them (each
naming the survivor as its subject, as the searches do). Parameters of the
operation (``start``, ``end``, ``_since``, ``_type``, ``_count``) are not
served: any is refused rather than ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.billing import charge_items
from adapters.http.context import principal_of, touched
from adapters.http.fhir_diagnostic_report import report_resource
from adapters.http.fhir_encounter import encounter_resource
from adapters.http.fhir_json import DecimalFhirResponse, operation_outcome
from adapters.http.fhir_observation import observation_resource
from adapters.http.fhir_patient import patient_resource
from adapters.http.fhir_reads import account_resource
from adapters.http.fhir_search import unsupported_parameters
from adapters.security.policy import authorize
from projections.billing.view import BillingView
from projections.encounters.view import EncounterView
from projections.merges import merged_group, survivor_of
from projections.observations.view import ObservationView
from projections.patients.view import PatientView

__all__ = ["everything_router"]


def _compartment(views: Mapping[str, Any], patient_id: str) -> list[dict[str, Any]]:
    """The resources of ``patient_id``'s compartment after the Patient itself."""
    out: list[dict[str, Any]] = []
    encounters: EncounterView | None = views.get("encounters")
    if encounters is not None:
        out.extend(encounter_resource(r) for r in encounters.visits(patient_id))
    observations: ObservationView | None = views.get("observations")
    if observations is not None:
        merges = observations.merges()
        subject = survivor_of(patient_id, merges)
        group = merged_group(patient_id, merges)
        rows = observations.observations_of(group)
        out.extend(observation_resource(r, subject) for r in rows)
        for report in observations.reports_of(group):
            results = [r for r in rows if r.report.report_id == report.report_id]
            out.append(report_resource(report, results, subject))
    billing: BillingView | None = views.get("billing")
    if billing is not None:
        merges = billing.merges()
        subject = survivor_of(patient_id, merges)
        for account in billing.accounts_of(merged_group(patient_id, merges)):
            lines = billing.lines_of(account.account_id)
            out.append(account_resource(account, lines, subject))
            out.extend(charge_items(account, lines, subject))
    return out


def everything_router(views: Mapping[str, Any]) -> APIRouter:
    """The ``$everything`` operation over every read model the app serves."""
    router = APIRouter()
    patients: PatientView = views["patients"]

    @router.get("/fhir/Patient/{patient_id}/$everything")
    def everything(request: Request, patient_id: str) -> JSONResponse:
        refusal = unsupported_parameters(request, {"_format"})
        if refusal is not None:
            return refusal
        # The route's policy row asks for Patient read; the other types it returns
        # need their own read scopes (AccessRefused is answered 403).
        for resource_type in (
            "Encounter",
            "Observation",
            "DiagnosticReport",
            "Account",
            "ChargeItem",
        ):
            authorize(principal_of(request), resource_type, "search", patient_id)
        record = patients.get_patient(patient_id)
        if record is None:
            return operation_outcome(404, "not-found", f"Patient/{patient_id} is not known")
        resources = [patient_resource(record), *_compartment(views, patient_id)]
        subjects = {
            ref["reference"].removeprefix("Patient/")
            for r in resources
            for ref in (
                [r["subject"]] if isinstance(r.get("subject"), dict) else r.get("subject", [])
            )
        }
        touched(request, patient_id, *sorted(subjects))
        base = str(request.base_url).rstrip("/")
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(resources),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [
                {
                    "fullUrl": f"{base}/fhir/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
        return DecimalFhirResponse(bundle)

    return router
