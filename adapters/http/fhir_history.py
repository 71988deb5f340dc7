"""FHIR ``vread`` and instance ``_history`` of Patient and Encounter, rebuilt from the events.

Every version of a resource is one event of its aggregate (``versionId`` is
the aggregate version), so a version is rebuilt rather than stored: the
aggregate's events up to it are replayed through the SAME projection the read
model is kept by, into an in-memory view of that one resource, and mapped by
the same ``patient_resource`` / ``encounter_resource`` a read uses. A version
therefore shows what a read showed right after that event (with one
difference, documented in docs/fhir-search.md: an Encounter's ``subject`` is
the patient's survivor now, as a read gives it, not the merged-away id).
Events are read through the application (decrypted by the at-rest mapper);
those of an erased patient cannot be, and the answer is 410 Gone, as a read's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from eventsourcing.persistence import Tracking
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.context import touched
from adapters.http.fhir_encounter import encounter_resource
from adapters.http.fhir_json import FhirResponse, operation_outcome
from adapters.http.fhir_patient import patient_resource
from engine.application.versions import AggregateVersions
from engine.domain.encounter import Encounter
from engine.domain.patient import Patient
from engine.errors import ErasedDataError
from projections.encounters import EncounterProjection, MemoryEncounterView
from projections.encounters.view import EncounterView
from projections.patients import MemoryPatientView, PatientProjection

__all__ = ["DEFAULT_COUNT", "MAX_COUNT", "Version", "fhir_history_router", "versions_of"]

DEFAULT_COUNT = 50
MAX_COUNT = 500
PAGE_BEFORE = "_page_before"  # the next page: versions below this one (newest first)
_TRACKING = "fhir-history"


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a resource: its number and its read-model record as it was then.

    The record is mapped only when asked (``resource()``): a history page maps
    its own versions, not every version replayed to reach them.
    """

    number: int
    record: Any
    render: Callable[[Any], dict[str, Any]]

    def resource(self) -> dict[str, Any]:
        """The FHIR resource of this version, with its ``meta.versionId``."""
        resource = self.render(self.record)
        meta = {**resource.get("meta", {}), "versionId": str(self.number)}
        return {**resource, "meta": meta}


def _patient_versions(events: list[Any]) -> list[Version]:
    view = MemoryPatientView()
    projection = PatientProjection(view)
    out = []
    for event in events:
        projection.process_event(event, Tracking(_TRACKING, event.originator_version))
        record = view.get_patient(str(event.originator_id))
        if record is not None:  # records are immutable: each is that version's snapshot
            out.append(Version(event.originator_version, record, patient_resource))
    return out


def _encounter_versions(events: list[Any], survivor_of: Callable[[str], str]) -> list[Version]:
    view = MemoryEncounterView()
    projection = EncounterProjection(view)
    out = []
    for event in events:
        projection.process_event(event, Tracking(_TRACKING, event.originator_version))
        record = view.encounter(str(event.originator_id))
        if record is not None:
            record = replace(record, subject_id=survivor_of(record.patient_id))
            out.append(Version(event.originator_version, record, encounter_resource))
    return out


def versions_of(
    resource_type: str,
    events: list[Any],
    survivor_of: Callable[[str], str] = lambda patient_id: patient_id,
) -> list[Version]:
    """Every version of a ``resource_type`` (oldest first) from its aggregate's events.

    [] when the events are not of that type's aggregate (an Encounter id read as a Patient).
    """
    if not events:
        return []
    first = events[0]
    if resource_type == "Patient" and isinstance(first, Patient.Registered):
        return _patient_versions(events)
    if resource_type == "Encounter" and isinstance(first, Encounter.Started):
        return _encounter_versions(events, survivor_of)
    return []


def _patients_of(resource: dict[str, Any]) -> list[str]:
    if resource["resourceType"] == "Patient":
        return [str(resource["id"])]
    return [str(resource["subject"]["reference"]).removeprefix("Patient/")]


def _entry(base: str, version: Version, resource: dict[str, Any]) -> dict[str, Any]:
    kind, rid = resource["resourceType"], resource["id"]
    created = version.number == 1
    return {
        "fullUrl": f"{base}/fhir/{kind}/{rid}",
        "resource": resource,
        "request": {
            "method": "POST" if created else "PUT",
            "url": kind if created else f"{kind}/{rid}",
        },
        "response": {
            "status": "201 Created" if created else "200 OK",
            "etag": f'W/"{version.number}"',
            "lastModified": resource["meta"]["lastUpdated"],
        },
    }


def _count(request: Request) -> int | JSONResponse:
    unknown = sorted(set(request.query_params) - {"_count", "_format", PAGE_BEFORE})
    if unknown:
        return operation_outcome(
            400, "not-supported", f"unsupported _history parameter(s): {', '.join(unknown)}"
        )
    for name in ("_count", PAGE_BEFORE):
        value = request.query_params.get(name, "1")
        if not value.isdigit() or int(value) < 1:
            return operation_outcome(400, "invalid", f"{name} must be a positive whole number")
    return min(int(request.query_params.get("_count", DEFAULT_COUNT)), MAX_COUNT)


def fhir_history_router(
    views: Mapping[str, Any],
    versions: AggregateVersions,
    erased: Callable[[str], bool] = lambda _: False,
) -> APIRouter:
    """``GET /fhir/{Patient|Encounter}/{id}/_history[/{vid}]``: vread and instance history."""
    router = APIRouter()
    encounters: EncounterView | None = views.get("encounters")
    survivor = encounters.survivor_of if encounters is not None else (lambda p: p)

    def load(kind: str, rid: str) -> list[Version] | JSONResponse:
        try:
            found = versions_of(kind, versions.events(rid), survivor)
        except ErasedDataError:
            found = None
        if found is None or (kind == "Patient" and not found and erased(rid)):
            return operation_outcome(410, "deleted", f"{kind}/{rid} was erased")
        if not found:
            return operation_outcome(404, "not-found", f"{kind}/{rid} is not known")
        return found

    def vread(request: Request, kind: str, rid: str, vid: str) -> JSONResponse:
        found = load(kind, rid)
        if isinstance(found, JSONResponse):
            return found
        match = [v for v in found if str(v.number) == vid]
        if not match:
            return operation_outcome(404, "not-found", f"{kind}/{rid} has no version {vid!r}")
        version = match[0]
        resource = version.resource()
        touched(request, *_patients_of(resource))
        changed = datetime.fromisoformat(resource["meta"]["lastUpdated"]).astimezone(UTC)
        headers = {"ETag": f'W/"{version.number}"', "Last-Modified": format_datetime(changed, True)}
        return FhirResponse(resource, headers=headers)

    def history(request: Request, kind: str, rid: str) -> JSONResponse:
        count = _count(request)
        if isinstance(count, JSONResponse):
            return count
        found = load(kind, rid)
        if isinstance(found, JSONResponse):
            return found
        before = int(request.query_params.get(PAGE_BEFORE, len(found) + 1))
        newest_first = [v for v in reversed(found) if v.number < before]
        page = newest_first[:count]
        base = str(request.base_url).rstrip("/")
        links = [{"relation": "self", "url": str(request.url)}]
        if len(newest_first) > count:
            query = [(k, v) for k, v in request.query_params.multi_items() if k != PAGE_BEFORE]
            query.append((PAGE_BEFORE, str(page[-1].number)))
            url = f"{base}/fhir/{kind}/{rid}/_history?{urlencode(query)}"
            links.append({"relation": "next", "url": url})
        resources = [v.resource() for v in page]
        touched(request, *(p for r in resources for p in _patients_of(r)))
        return FhirResponse(
            {
                "resourceType": "Bundle",
                "type": "history",
                "total": len(found),
                "link": links,
                "entry": [_entry(base, v, r) for v, r in zip(page, resources, strict=True)],
            }
        )

    @router.get("/fhir/Patient/{patient_id}/_history/{version_id}")
    def vread_patient(request: Request, patient_id: str, version_id: str) -> JSONResponse:
        return vread(request, "Patient", patient_id, version_id)

    @router.get("/fhir/Patient/{patient_id}/_history")
    def patient_history(request: Request, patient_id: str) -> JSONResponse:
        return history(request, "Patient", patient_id)

    @router.get("/fhir/Encounter/{encounter_id}/_history/{version_id}")
    def vread_encounter(request: Request, encounter_id: str, version_id: str) -> JSONResponse:
        return vread(request, "Encounter", encounter_id, version_id)

    @router.get("/fhir/Encounter/{encounter_id}/_history")
    def encounter_history(request: Request, encounter_id: str) -> JSONResponse:
        return history(request, "Encounter", encounter_id)

    return router
