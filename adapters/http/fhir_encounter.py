"""Encounter read-model records as FHIR R4 Encounter resources, and their routes.

Mapping (HL7 v2-to-FHIR IG, PV1/PV2 -> Encounter): PV1-19 -> ``identifier``
(type VN from v2-0203); PV1-2 -> ``class`` (table 0004 to v3 ActCode: E EMER,
I IMP, O AMB, P PRENC; other codes stay in the v2-0004 system); PV1-3 ->
``location`` (every place the visit was, current one ``active``); PV1-4 ->
``type`` (v2-0007); PV2-25 -> ``priority`` (v2-0217); PV1-44/45 -> ``period``;
the patient -> ``subject``. Departures (README): ``location.location`` is a
Reference with only a display and a PL identifier, not a Location resource,
since carelog keeps no location master; a visit with no PV1-2 gets the
v3-NullFlavor ``UNK`` class, since FHIR requires one; ``subject`` names the
surviving patient when the visit's patient was merged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.encounter import Encounter as FhirEncounter

from adapters.http.context import touched
from adapters.http.fhir_checks import identifier_token
from adapters.http.fhir_encounter_filters import (
    ENCOUNTER_SEARCH_PARAMETERS,
    ENCOUNTER_SORTS,
    encounter_filter,
)
from adapters.http.fhir_json import FhirResponse, operation_outcome
from adapters.http.fhir_output import checked, instant
from adapters.http.fhir_patient import identifier_system, patient_resource
from adapters.http.fhir_search import (
    PAGE_CONTROLS,
    Page,
    include_patients,
    search_page,
    searchset,
    sort_by,
    unsupported_parameters,
)
from engine.domain.values import EncounterDetails, Location
from projections.encounters.view import EncounterRecord, EncounterView
from projections.patients.view import PatientView

__all__ = ["encounter_resource", "encounter_router", "encounters_of_patient"]

V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_0004 = "http://terminology.hl7.org/CodeSystem/v2-0004"
V2_0007 = "http://terminology.hl7.org/CodeSystem/v2-0007"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0217 = "http://terminology.hl7.org/CodeSystem/v2-0217"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
LOCATION_SYSTEM = "urn:carelog:location"

# HL7 table 0004 -> v3 ActCode (the IG's ConceptMap table-hl70004-to-v3-actcode).
_CLASS = {
    "E": ("EMER", "emergency"),
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "P": ("PRENC", "pre-admission"),
}
ENCOUNTER_STATUSES = frozenset(
    {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)


def _class(patient_class: str) -> dict[str, str]:
    code = patient_class.strip().upper()
    if code in _CLASS:
        v3, display = _CLASS[code]
        return {"system": V3_ACT_CODE, "code": v3, "display": display}
    if code:
        return {"system": V2_0004, "code": code}
    return {"system": NULL_FLAVOR, "code": "UNK", "display": "unknown"}


def _place(location: Location) -> dict[str, Any]:
    parts = [location.point_of_care, location.room, location.bed, location.facility]
    text = "^".join(parts).rstrip("^")
    display = " ".join(p for p in parts if p)
    return {"identifier": {"system": LOCATION_SYSTEM, "value": text}, "display": display}


def _period(start: Any, end: Any) -> dict[str, str]:
    period = {}
    if start is not None:
        period["start"] = instant(start)
    if end is not None:
        period["end"] = instant(end)
    return period


def encounter_resource(record: EncounterRecord) -> dict[str, Any]:
    """The FHIR Encounter for a visit, as JSON-ready data (adapters.http.fhir_output)."""
    data: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": record.encounter_id,
        "meta": {"lastUpdated": instant(record.updated_at)},
        "status": record.status,
        "class": _class(record.patient_class),
        "subject": {"reference": f"Patient/{record.subject_id}"},
    }
    if (visit := record.visit_number) is not None and visit.value:
        identifier: dict[str, Any] = {
            "value": visit.value,
            "type": {"coding": [{"system": V2_0203, "code": visit.type_code or "VN"}]},
        }
        if system := identifier_system(visit):
            identifier["system"] = system
        data["identifier"] = [identifier]
    if record.admission_type:
        data["type"] = [{"coding": [{"system": V2_0007, "code": record.admission_type}]}]
    if record.priority:
        data["priority"] = {"coding": [{"system": V2_0217, "code": record.priority}]}
    end = record.discharged_at if record.status == "finished" else None
    if period := _period(record.admitted_at, end):
        data["period"] = period
    locations = []
    for stay in record.locations:
        if stay.cancelled:
            continue  # undone by a cancelled transfer (A12): it never happened
        current = stay.seq == record.location_seq and record.status in ("in-progress", "planned")
        status = "active" if current else "completed"
        if record.status == "planned" and current:
            status = "planned"
        locations.append(
            {
                "location": _place(stay.location),
                "status": status,
                "period": _period(stay.started_at, stay.ended_at),
            }
        )
    if locations:
        data["location"] = locations
    data.update(_details(record.details))
    return checked(FhirEncounter, data)


def encounters_of_patient(view: EncounterView, patient_id: str) -> list[dict[str, Any]]:
    """Every Encounter of ``patient_id`` and of patients merged into it, newest first."""
    return [encounter_resource(r) for r in view.visits(patient_id)]


def encounter_router(
    views: Mapping[str, Any], version_of: Callable[[str], int | None] | None = None
) -> APIRouter:
    """``GET /fhir/Encounter/{id}`` and ``GET /fhir/Encounter?patient=&status=``.

    ``version_of`` gives a visit's stored version (``meta.versionId``, ``ETag``).
    """
    router = APIRouter()
    encounters: EncounterView = views["encounters"]
    patients: PatientView | None = views.get("patients")

    @router.get("/fhir/Encounter/{encounter_id}")
    def read_encounter(request: Request, encounter_id: str) -> JSONResponse:
        record = encounters.encounter(encounter_id)
        if record is None:
            return operation_outcome(404, "not-found", f"Encounter/{encounter_id} is not known")
        touched(request, record.subject_id)
        resource = encounter_resource(record)
        version = version_of(encounter_id) if version_of is not None else None
        if version is None:
            return FhirResponse(resource)
        resource["meta"] = {**resource.get("meta", {}), "versionId": str(version)}
        return FhirResponse(resource, headers={"ETag": f'W/"{version}"'})

    @router.get("/fhir/Encounter")
    def search_encounters(request: Request) -> JSONResponse:
        params = request.query_params
        refusal = unsupported_parameters(
            request, {*ENCOUNTER_SEARCH_PARAMETERS, *PAGE_CONTROLS, "_format", "_include", "_sort"}
        )
        if refusal is not None:
            return refusal
        include = include_patients(request, "Encounter")
        if not isinstance(include, bool):
            return include
        sort = sort_by(request, ENCOUNTER_SORTS)
        if not isinstance(sort, tuple):
            return sort
        try:
            wanted = encounter_filter(params, ENCOUNTER_STATUSES)
            numbers = {identifier_token(v)[0] for v in params.getlist("identifier")}
        except ValueError as e:
            return operation_outcome(400, "invalid", str(e))
        references = params.getlist("patient") + params.getlist("subject")
        if len(references) > 1 or (not references and len(numbers) != 1) or "" in references:
            return operation_outcome(
                400, "required", "Encounter search needs one patient={id} or one identifier="
            )
        if references:
            patient_id = references[0].removeprefix("Patient/")
            if not patient_id or "/" in patient_id:
                return operation_outcome(
                    400, "invalid", f"patient must be an id or Patient/id: {references[0]!r}"
                )
            visits = encounters.visits(patient_id)
            touched(request, patient_id)
        else:
            visits = encounters.visits_numbered(next(iter(numbers)))
        resources = [r for r in (encounter_resource(v) for v in visits) if wanted(r)]
        page = search_page(request, resources, *sort)
        if not isinstance(page, Page):
            return page
        subjects = sorted(
            {r["subject"]["reference"].removeprefix("Patient/") for r in page.resources}
        )
        touched(request, *subjects)
        included = []
        if include and patients is not None:
            records = (patients.get_patient(s) for s in subjects)
            included = [patient_resource(p) for p in records if p is not None]
        return FhirResponse(searchset(request, "Encounter", page, included))

    return router


V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V2_0069 = "http://terminology.hl7.org/CodeSystem/v2-0069"
V2_0112 = "http://terminology.hl7.org/CodeSystem/v2-0112"


def _details(details: EncounterDetails) -> dict[str, Any]:
    """PV1-7/8/9/17 as participant, PV1-10 as serviceType, PV1-36 as
    hospitalization.dischargeDisposition (v2-to-FHIR IG, PV1 -> Encounter)."""
    out: dict[str, Any] = {}
    participants = []
    for p in details.participants:
        individual: dict[str, Any] = {}
        if p.id:
            individual["identifier"] = {"value": p.id}
        if name := " ".join(x for x in (p.given, p.family) if x):
            individual["display"] = name
        coding = {"system": V3_PARTICIPATION, "code": p.role}
        participants.append({"type": [{"coding": [coding]}], "individual": individual})
    if participants:
        out["participant"] = participants
    if details.service:
        out["serviceType"] = {"coding": [{"system": V2_0069, "code": details.service}]}
    if details.disposition:
        disposition = {"coding": [{"system": V2_0112, "code": details.disposition}]}
        out["hospitalization"] = {"dischargeDisposition": disposition}
    return out
