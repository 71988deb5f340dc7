"""Appointment read-model records as FHIR R4 Appointment resources, and their routes.

Mapping (HL7 v2-to-FHIR IG, SCH/AIx -> Appointment): SCH-1/SCH-2 ->
``identifier`` (types PLAC/FILL from v2-0203); TQ1-7/8 (SCH-11.4/5 before 2.5)
-> ``start``/``end``; SCH-9/10 -> ``minutesDuration``; SCH-7 (else SCH-6) ->
``reasonCode``; SCH-8 -> ``appointmentType``; AIS-3 -> ``serviceType``; the
patient, AIL-3 and every AIP-3 -> ``participant`` (AIP-4 as its type). Status:
the trigger and SCH-25 (table 0278) as FHIR says them: booked, pending,
waitlist, arrived (SCH-25 Started, or the visit an A04 started there that
day), fulfilled (Complete, or that visit discharged), cancelled (S15),
noshow (S26). Departures: the location is a Reference with a display and a
PL identifier, as for Encounter (carelog keeps no Location resources), and
so is each AIP person (no Practitioner resources).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.appointment import Appointment as FhirAppointment

from adapters.http.context import touched
from adapters.http.fhir_json import FhirResponse, operation_outcome
from adapters.http.fhir_output import checked, instant
from adapters.http.fhir_paging import (
    AFTER,
    BEFORE,
    DEFAULT_COUNT,
    MAX_COUNT,
    decode_cursor,
    encode_cursor,
    page_link,
)
from adapters.http.fhir_params import Refused, alternatives, date_range
from projections.appointments.view import AppointmentCriteria, AppointmentRecord, AppointmentView
from projections.timestamps import to_text

__all__ = ["APPOINTMENT_SEARCH_PARAMETERS", "appointment_resource", "appointment_router"]

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LOCATION_SYSTEM = "urn:carelog:location"
APPOINTMENT_SEARCH_PARAMETERS = {
    "patient": "reference",
    "date": "date",
    "status": "token",
    "location": "reference",
}
STATUSES = frozenset(
    {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
     "entered-in-error", "checked-in", "waitlist"}
)  # fmt: skip
_CONTROL = {"_count", "_format", AFTER, BEFORE}


def _concept(c: dict[str, str] | None) -> dict[str, Any] | None:
    if not c or not (c.get("code") or c.get("text")):
        return None
    out: dict[str, Any] = {}
    if c.get("code"):
        coding = {"code": c["code"]}
        if c.get("system"):
            coding["system"] = c["system"]
        out["coding"] = [coding]
    if c.get("text"):
        out["text"] = c["text"]
    return out


def appointment_resource(record: AppointmentRecord) -> dict[str, Any]:
    """The FHIR Appointment for a row, as JSON-ready data (adapters.http.fhir_output)."""
    details = json.loads(record.details or "{}")
    data: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": record.appointment_id,
        "meta": {"versionId": str(record.version), "lastUpdated": instant(record.updated_at)},
        "status": record.status,
    }
    identifiers = []
    for code, value in (("PLAC", record.placer_id), ("FILL", record.filler_id)):
        if value:
            kind = {"coding": [{"system": V2_0203, "code": code}]}
            identifiers.append({"type": kind, "value": value})
    if identifiers:
        data["identifier"] = identifiers
    if record.start is not None:
        data["start"] = instant(record.start)
    if record.end is not None:
        data["end"] = instant(record.end)
    if record.duration_minutes:
        data["minutesDuration"] = record.duration_minutes
    if reason := _concept(details.get("reason")):
        data["reasonCode"] = [reason]
    if kind_of := _concept(details.get("type")):
        data["appointmentType"] = kind_of
    services = [c for c in (_concept(s) for s in details.get("services", [])) if c]
    if services:
        data["serviceType"] = services
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": f"Patient/{record.patient_id}"}, "status": "accepted"}
    ]
    if record.location_text:
        place = {"system": LOCATION_SYSTEM, "value": record.location_text}
        display = " ".join(p for p in record.location_text.split("^") if p)
        participants.append(
            {"actor": {"identifier": place, "display": display}, "status": "accepted"}
        )
    for person in details.get("resources", []):
        actor: dict[str, Any] = {}
        if person.get("id"):
            actor["identifier"] = {"value": person["id"]}
        if name := " ".join(x for x in (person.get("given"), person.get("family")) if x):
            actor["display"] = name
        entry: dict[str, Any] = {"actor": actor, "status": "accepted"}
        if person.get("role"):
            entry["type"] = [{"coding": [{"system": V3_PARTICIPATION, "code": person["role"]}]}]
        participants.append(entry)
    data["participant"] = participants
    return checked(FhirAppointment, data)


def _values(params: Any, name: str) -> tuple[str, ...]:
    return tuple(v for value in params.getlist(name) for v in alternatives(name, value))


def _criteria(request: Request) -> tuple[AppointmentCriteria, int]:
    params = request.query_params
    unknown = set(params) - set(APPOINTMENT_SEARCH_PARAMETERS) - _CONTROL
    if unknown:
        raise Refused(f"unsupported search parameter(s): {', '.join(sorted(unknown))}")
    patients = tuple(p.rpartition("Patient/")[2] for p in _values(params, "patient"))
    if any(not p or "/" in p for p in patients):
        raise Refused("patient must be an id or Patient/id")
    statuses = _values(params, "status")
    if wrong := sorted(set(statuses) - STATUSES):
        raise Refused(f"unknown Appointment status: {', '.join(wrong)}")
    locations = tuple(v.removeprefix("Location/") for v in _values(params, "location"))
    count = params.get("_count", str(DEFAULT_COUNT))
    if not count.isdigit() or int(count) < 1:
        raise Refused(f"_count must be a whole number from 1, not {count!r}")
    cursors: dict[str, tuple[str, str]] = {}
    for name in (AFTER, BEFORE):
        for token in params.getlist(name):
            try:
                cursors[name] = decode_cursor(token)
            except ValueError as e:
                raise Refused(str(e)) from e
    if len(params.getlist(AFTER)) + len(params.getlist(BEFORE)) > 1:
        raise Refused(f"give one {AFTER} or {BEFORE}")
    criteria = AppointmentCriteria(
        patients=patients,
        statuses=statuses,
        locations=locations,
        dates=tuple(date_range("date", v) for v in params.getlist("date")),
        after=cursors.get(AFTER),
        before=cursors.get(BEFORE),
    )
    return criteria, min(int(count), MAX_COUNT)


def _key(record: AppointmentRecord) -> tuple[str, str]:
    """A row's place in the search order, as its page cursor carries it."""
    return (to_text(record.start) if record.start else "", record.appointment_id)


def _page(
    view: AppointmentView, criteria: AppointmentCriteria, count: int
) -> tuple[list[AppointmentRecord], bool, bool]:
    """The page's rows, whether rows follow it, and whether rows precede it.

    One row more than the page says whether the search goes on in the page's
    direction; a one-row search past the page's near edge, the other way.
    """
    backward = criteria.before is not None
    records = view.search(criteria, count + 1)
    more = len(records) > count
    records = (records[-count:] if more else records) if backward else records[:count]
    cursor = criteria.before or criteria.after
    if cursor is None:
        return records, more, False  # the first page: nothing before it
    if backward:
        edge = _key(records[-1]) if records else cursor
        return records, bool(view.search(replace(criteria, before=None, after=edge), 1)), more
    edge = _key(records[0]) if records else cursor
    return records, more, bool(view.search(replace(criteria, after=None, before=edge), 1))


def appointment_router(views: Mapping[str, Any]) -> APIRouter:
    """``GET /fhir/Appointment/{id}`` and the search (patient, date, status, location)."""
    router = APIRouter()
    appointments: AppointmentView = views["appointments"]

    @router.get("/fhir/Appointment/{appointment_id}")
    def read_appointment(request: Request, appointment_id: str) -> JSONResponse:
        record = appointments.appointment(appointment_id)
        if record is None:
            return operation_outcome(404, "not-found", f"Appointment/{appointment_id} is not known")
        touched(request, record.patient_id)
        resource = appointment_resource(record)
        return FhirResponse(resource, headers={"ETag": f'W/"{record.version}"'})

    @router.get("/fhir/Appointment")
    def search_appointments(request: Request) -> JSONResponse:
        try:
            criteria, count = _criteria(request)
        except Refused as e:
            return operation_outcome(400, "not-supported", str(e))
        records, has_next, has_previous = _page(appointments, criteria, count)
        base = str(request.base_url).rstrip("/")
        links = [{"relation": "self", "url": str(request.url)}]
        if has_next and records:
            links.append(page_link(request, "next", AFTER, encode_cursor(*_key(records[-1]))))
        if has_previous and records:
            links.append(page_link(request, "previous", BEFORE, encode_cursor(*_key(records[0]))))
        touched(request, *(r.patient_id for r in records))
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
        if records:  # FHIR arrays are absent, never empty
            bundle["entry"] = [
                {
                    "fullUrl": f"{base}/fhir/Appointment/{r.appointment_id}",
                    "resource": appointment_resource(r),
                    "search": {"mode": "match"},
                }
                for r in records
            ]
        return FhirResponse(bundle)

    return router
