"""Lab reports (ORU orders, one OBR each) as FHIR R4 DiagnosticReports: read and search.

Mapping (HL7 v2-to-FHIR IG, OBR -> DiagnosticReport): OBR-3 (else OBR-2) order
number -> ``identifier``; OBR-4 -> ``code``; OBR-25 -> ``status`` (table 0123
to DiagnosticReportStatus, below); OBR-7 -> ``effectiveDateTime``; the
report's OBX segments -> ``result`` (references to the Observations carelog
serves, in OBX order); category LAB (v2-0074), since carelog's reports are
lab reports (engine/domain/report.py). ``subject`` is the surviving patient
after a merge; ``issued`` and ``meta.lastUpdated`` are the latest report event.

Search: ``patient``/``subject`` (the indexed lookup, the merged group's
reports), then ``code``, ``status``, ``date`` judged on the resource as
served (as Observation's filters are), ``_sort=date``, and
``_include=DiagnosticReport:result`` (its Observations, which need their own
read scope).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from starlette.datastructures import QueryParams

from adapters.fhir.routes import versioned
from adapters.http.context import principal_of, touched
from adapters.http.fhir_checks import status_check
from adapters.http.fhir_codes import codeable
from adapters.http.fhir_json import DecimalFhirResponse, operation_outcome
from adapters.http.fhir_observation import observation_id, observation_resource
from adapters.http.fhir_observation_filters import observation_filter
from adapters.http.fhir_output import checked, instant
from adapters.http.fhir_search import Page, patient_search, search_page, searchset, sort_by
from adapters.security.policy import authorize
from projections.merges import merged_group, survivor_of
from projections.observations.view import ObservationRow, ObservationView, ReportRecord

__all__ = [
    "REPORT_INCLUDES",
    "REPORT_SEARCH_PARAMETERS",
    "diagnostic_report_router",
    "report_resource",
]

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
REPORT_SEARCH_PARAMETERS = {
    "patient": "reference",
    "subject": "reference",
    "code": "token",
    "status": "token",
    "date": "date",
    "_lastUpdated": "date",
}
REPORT_INCLUDES = ("DiagnosticReport:result",)
_SORTS = {"date": "effectiveDateTime"}
# OBR-25 (HL7 table 0123) -> DiagnosticReportStatus
STATUS = {
    "O": "registered",
    "I": "registered",
    "S": "registered",
    "A": "partial",
    "P": "preliminary",
    "R": "partial",
    "C": "corrected",
    "F": "final",
    "X": "cancelled",
}
_STATUSES = {"registered", "partial", "preliminary", "final", "amended", "corrected",
             "appended", "cancelled", "entered-in-error", "unknown"}  # fmt: skip
VersionOf = Callable[[str], int | None]


def report_resource(
    report: ReportRecord, rows: list[ObservationRow], patient_id: str
) -> dict[str, Any]:
    """The DiagnosticReport of ``report`` (results ``rows``) (checked in tests: fhir_output)."""
    data: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": report.report_id,
        "identifier": [{"system": "urn:carelog:order", "value": report.order_number}],
        "status": STATUS.get(report.status.upper(), "unknown"),
        "category": [{"coding": [{"system": V2_0074, "code": "LAB", "display": "Laboratory"}]}],
        "code": codeable(report.service),
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if report.updated_at is not None:
        data["meta"] = {"lastUpdated": instant(report.updated_at)}
        data["issued"] = instant(report.updated_at)
        if report.source_message_id:
            data["meta"]["source"] = f"urn:uuid:{report.source_message_id}"
    if report.encounter_id:
        data["encounter"] = {"reference": f"Encounter/{report.encounter_id}"}
    if report.observed_at is not None:
        data["effectiveDateTime"] = instant(report.observed_at)
    if rows:
        data["result"] = [{"reference": f"Observation/{observation_id(r)}"} for r in rows]
    checked(DiagnosticReport, data, same=False)
    return data


def _filter(params: QueryParams) -> Callable[[dict[str, Any]], bool]:
    """``code``, ``status``, ``date`` on the served resource; ValueError if one is bad."""
    statuses = [status_check(v, _STATUSES, "DiagnosticReport") for v in params.getlist("status")]
    shared = [(k, v) for k, v in params.multi_items() if k in ("code", "date", "_lastUpdated")]
    checks = observation_filter(QueryParams(shared))

    def check(resource: dict[str, Any]) -> bool:
        # observation_filter's date is on effectiveDateTime, code on code: the same
        # elements a DiagnosticReport has.
        return checks(resource) and all(s(resource) for s in statuses)

    return check


def _includes(request: Request) -> bool | JSONResponse:
    values = [v for value in request.query_params.getlist("_include") for v in value.split(",")]
    if wrong := sorted(set(values) - set(REPORT_INCLUDES)):
        return operation_outcome(
            400,
            "not-supported",
            f"_include={', '.join(wrong)} is not served (only {REPORT_INCLUDES[0]})",
        )
    return bool(values)


def diagnostic_report_router(
    views: Mapping[str, Any], version_of: VersionOf | None = None
) -> APIRouter:
    """``GET /fhir/DiagnosticReport/{id}`` and ``GET /fhir/DiagnosticReport?patient=``."""
    router = APIRouter()
    view: ObservationView = views["observations"]

    def results(report: ReportRecord, rows: list[ObservationRow]) -> list[ObservationRow]:
        return [r for r in rows if r.report.report_id == report.report_id]

    @router.get("/fhir/DiagnosticReport/{report_id}")
    def read_report(request: Request, report_id: str) -> JSONResponse:
        report = view.report(report_id)
        if report is None:
            return operation_outcome(404, "not-found", f"DiagnosticReport/{report_id} is not known")
        subject = survivor_of(report.patient_id, view.merges())
        rows = results(report, view.observations_of([report.patient_id]))
        touched(request, subject, report.patient_id)
        resource = report_resource(report, rows, subject)
        lookup = (lambda _: version_of(report_id)) if version_of is not None else None
        body, headers = versioned(resource, lookup)
        return DecimalFhirResponse(body, headers=headers)

    @router.get("/fhir/DiagnosticReport")
    def search_reports(request: Request) -> JSONResponse:
        patient_id, error = patient_search(
            request, frozenset({*REPORT_SEARCH_PARAMETERS, "_sort", "_include"})
        )
        if error is not None:
            return error
        include = _includes(request)
        if not isinstance(include, bool):
            return include
        sort = sort_by(request, _SORTS)
        if not isinstance(sort, tuple):
            return sort
        try:
            wanted = _filter(request.query_params)
        except ValueError as e:
            return operation_outcome(400, "not-supported", str(e))
        if include:  # the route's row asks for DiagnosticReport search only
            authorize(principal_of(request), "Observation", "search", patient_id)
        merges = view.merges()
        subject = survivor_of(patient_id, merges)
        group = merged_group(patient_id, merges)
        touched(request, *sorted(group))
        rows = view.observations_of(group)
        reports = (
            report_resource(report, results(report, rows), subject)
            for report in view.reports_of(group)
        )
        page = search_page(request, [r for r in reports if wanted(r)], *sort)
        if not isinstance(page, Page):
            return page
        included = []
        if include:
            served = {r["id"] for r in page.resources}
            included = [
                observation_resource(row, subject) for row in rows if row.report.report_id in served
            ]
        return DecimalFhirResponse(searchset(request, "DiagnosticReport", page, included))

    return router
