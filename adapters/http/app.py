"""The HTTP surface: /health, /metrics and FHIR R4 reads under /fhir.

A thin ASGI app: each handler makes one query on a read model and maps the
result; every error under /fhir answers an OperationOutcome with its status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.fhir.capability import with_history, with_writes
from adapters.fhir.routes import FhirWrites, fhir_write_router, versioned
from adapters.http.access import AccessControl, AccessMiddleware, refusal_response
from adapters.http.appointments import expected_router
from adapters.http.audit import audit_router
from adapters.http.billing import billing_router
from adapters.http.context import touched
from adapters.http.fhir_appointment import appointment_router
from adapters.http.fhir_billing_search import billing_search_router
from adapters.http.fhir_capability import with_searches
from adapters.http.fhir_diagnostic_report import diagnostic_report_router
from adapters.http.fhir_encounter import encounter_router
from adapters.http.fhir_everything import everything_router
from adapters.http.fhir_format import negotiate_format
from adapters.http.fhir_history import fhir_history_router
from adapters.http.fhir_json import FHIR_JSON, FhirResponse, operation_outcome
from adapters.http.fhir_observation import observation_router
from adapters.http.fhir_patient import patient_resource
from adapters.http.fhir_patient_search import patient_search_router
from adapters.http.fhir_reads import reads_router
from adapters.http.history import history_router
from adapters.http.observe import ObserveMiddleware
from adapters.http.problem import problem
from adapters.http.queue import queue_router
from adapters.http.well_known import well_known_router
from adapters.metrics import CONTENT_TYPE, Metrics
from adapters.security.policy import AccessRefused
from engine.application.versions import AggregateVersions
from projections.patients.view import PatientView

__all__ = ["FHIR_JSON", "create_app"]

FHIR_VERSION = "4.0.1"
EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"


_ISSUE_FOR_STATUS = {400: "invalid", 404: "not-found", 405: "not-supported", 422: "invalid"}


def create_app(
    views: Mapping[str, Any],
    *,
    health: Callable[[], dict[str, Any]],
    metrics: Callable[[], str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    site_timezone: tzinfo = UTC,
    fhir_writes: FhirWrites | None = None,
    access: AccessControl | None = None,
    erased: Callable[[str], bool] = lambda _: False,
    versions: AggregateVersions | None = None,
    figures: Metrics | None = None,
) -> FastAPI:
    """The ASGI app over the read models ``views`` (keyed as in projections.catalog).

    ``health`` returns a dict with ``ready`` and details; ``now`` is the clock
    waits are measured with; ``site_timezone`` is where a day starts (queue stats).
    ``fhir_writes`` adds the FHIR write routes (and lists them in the metadata).
    ``access`` is the access layer (adapters/http/access.py); without one no
    token is accepted and only the public routes answer (deny by default).
    ``erased`` says whether a patient id was erased (a read then answers 410 Gone).
    ``versions`` reads the store's events for vread and ``_history`` (by default
    through ``fhir_writes``' application; without either they are not served).
    ``figures`` is the process's Metrics (a registry of its own when None): HTTP
    requests are counted there, and /metrics serves it unless ``metrics`` is given.
    """
    app = FastAPI(title="carelog", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    patients: PatientView = views["patients"]
    if versions is None and fhir_writes is not None:  # vread, _history: the store's events
        versions = AggregateVersions(fhir_writes.ingestion)
    version_of = versions.latest if versions is not None else None
    access = access if access is not None else AccessControl.refusing_all()
    app.add_middleware(AccessMiddleware, access=access, router=app.router)
    figures = figures if figures is not None else Metrics()
    render_metrics = metrics if metrics is not None else figures.render

    @app.exception_handler(AccessRefused)
    async def _refused(request: Request, exc: AccessRefused) -> JSONResponse:
        return refusal_response(request.url.path, exc.status, exc.detail, exc.scope)

    app.middleware("http")(negotiate_format)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith("/fhir"):
            return operation_outcome(
                exc.status_code,
                _ISSUE_FOR_STATUS.get(exc.status_code, "exception"),
                str(exc.detail),
            )
        if request.url.path.startswith("/api"):
            return problem(exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(str(e["msg"]) for e in exc.errors())
        if request.url.path.startswith("/api"):
            return problem(400, detail)
        return operation_outcome(400, "invalid", detail)

    if "billing" in views:
        app.include_router(billing_router(views))
    if "observations" in views:
        app.include_router(observation_router(views))

    @app.get("/health")
    def get_health() -> JSONResponse:
        state = health()
        return JSONResponse(state, status_code=200 if state.get("ready") else 503)

    @app.get("/metrics")
    def get_metrics() -> PlainTextResponse:
        return PlainTextResponse(render_metrics(), media_type=CONTENT_TYPE)

    app.include_router(history_router(views, site_timezone))
    app.include_router(well_known_router(access))
    if "access" in views:
        app.include_router(audit_router(views["access"], site_timezone))

    @app.get("/fhir/metadata")
    def get_metadata() -> FhirResponse:
        statement = _capability_statement()
        statement = with_searches(statement, searchable)
        if fhir_writes is not None:
            statement = with_writes(statement)
        if versions is not None:
            statement = with_history(statement)
        return FhirResponse(statement)

    if fhir_writes is not None:
        app.include_router(fhir_write_router(fhir_writes))

    @app.get("/fhir/Patient/{patient_id}")
    def read_patient(request: Request, patient_id: str) -> FhirResponse:
        record = patients.get_patient(patient_id)
        if record is None:
            if erased(patient_id):
                return operation_outcome(410, "deleted", f"Patient/{patient_id} was erased")
            return operation_outcome(404, "not-found", f"Patient/{patient_id} is not known")
        touched(request, record.patient_id)
        resource, headers = versioned(patient_resource(record), version_of)
        return FhirResponse(resource, headers=headers)

    app.include_router(patient_search_router(views))

    if "queue" in views:  # apps built over a subset of the read models (tests) skip it
        app.include_router(queue_router(views, now, site_timezone))
    if "encounters" in views:
        app.include_router(encounter_router(views, version_of))
    if "appointments" in views:  # SIU appointments: FHIR Appointment and the expected list
        app.include_router(appointment_router(views))
        app.include_router(expected_router(views, now, site_timezone))
    app.include_router(reads_router(views, version_of))
    if versions is not None:
        app.include_router(fhir_history_router(views, versions, erased))
    # The types searched, for the metadata (adapters/http/fhir_capability.py)
    searchable = {"Patient"}
    if "observations" in views:
        app.include_router(diagnostic_report_router(views, version_of))
        searchable |= {"Observation", "DiagnosticReport"}
    if "billing" in views:
        app.include_router(billing_search_router(views))
        searchable |= {"ChargeItem", "Account"}
    if "encounters" in views:
        searchable.add("Encounter")
    if "appointments" in views:
        searchable.add("Appointment")
    app.include_router(everything_router(views))
    if fhir_writes is not None and "queue" in views:  # calls write as FHIR does
        from adapters.http.calls import calls_router

        app.include_router(calls_router(views, fhir_writes))
    if fhir_writes is not None and "messages" in views:  # the console writes as FHIR does
        from adapters.console.auth_routes import auth_router
        from adapters.console.dashboard import dashboard_router
        from adapters.console.filters import filters_router
        from adapters.console.routes import console_router
        from adapters.console.session import SignIn

        signin = SignIn(access.verifier, access.issuer, oidc=access.oidc is not None)
        app.include_router(auth_router(access.sessions, access.oidc, signin.session_ttl_s))
        app.include_router(filters_router(fhir_writes))
        app.include_router(console_router(dict(views), fhir_writes, signin, now, site_timezone))
        app.include_router(dashboard_router(figures))
    # Outermost (added last): counts and logs every answer, refusals included.
    app.add_middleware(ObserveMiddleware, metrics=figures, router=app.router)
    return app


def _capability_statement() -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "software": {"name": "carelog"},
        "implementation": {"description": "carelog FHIR R4 server"},  # cpb-14: kind=instance
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {  # the search types come from adapters/http/fhir_capability.py
                        "type": "Patient",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "operation": [{"name": "everything", "definition": EVERYTHING}],
                    },
                    {
                        "type": "AuditEvent",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [
                            {"name": "patient", "type": "reference"},
                            {"name": "agent", "type": "reference"},
                            {"name": "date", "type": "date"},
                        ],
                    },
                ],
            }
        ],
    }
