"""FHIR R4 resources as carelog commands: the read mapping (adapters/http/fhir_*) backwards.

Each function takes a resource already validated by fhir.resources (as its
JSON data, decimals as Decimal) and returns the command an HL7 v2 message
with the same content would give (docs/fhir-mapping.md has the tables).
References (subject, encounter) are resolved by the caller and passed in.
A resource carelog cannot key (no identifier) raises FhirError 422 with
the element at fault.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters.fhir.encounter_details import encounter_details
from adapters.fhir.errors import FhirError
from adapters.http.fhir_encounter import (
    LOCATION_SYSTEM,
    NULL_FLAVOR,
    V2_0004,
    V2_0007,
    V2_0217,
    V3_ACT_CODE,
)
from adapters.http.fhir_observation import STATUS as OBSERVATION_STATUS
from adapters.http.fhir_patient import AUTHORITY_SYSTEM_PREFIX, V2_0203
from adapters.http.fhir_person import details_from, name_from
from engine.application.commands import (
    LabResult,
    PatientRef,
    RegisterPatient,
    ReportResults,
    VisitDetails,
)
from engine.application.decisions import report_id_for
from engine.application.visit_state import SetVisitState, VisitStatus
from engine.domain.values import Coded, Identifier, Location, ObservationValue, PersonName
from projections.observations.view import observation_resource_id as row_observation_id

__all__ = [
    "ORDER_SYSTEM",
    "encounter_state",
    "identifier_from_token",
    "observation_command",
    "observation_resource_id",
    "patient_command",
    "to_identifier",
]

ORDER_SYSTEM = "urn:carelog:order"
_GENDER = {"female": "F", "male": "M", "other": "O", "unknown": "U"}
_CLASS = {"EMER": "E", "IMP": "I", "AMB": "O", "PRENC": "P"}
# FHIR Encounter.status -> the visit states carelog keeps (arrived/triaged/onleave: in progress).
_VISIT_STATUS: dict[str, VisitStatus] = {
    "planned": "planned",
    "arrived": "in-progress",
    "triaged": "in-progress",
    "in-progress": "in-progress",
    "onleave": "in-progress",
    "finished": "finished",
    "cancelled": "cancelled",
}
# ObservationStatus -> OBX-11, the read map backwards (first code wins, amended as corrected).
_OBSERVATION_STATUS = {"amended": "C", "unknown": ""}
for _v2_status, _fhir_status in OBSERVATION_STATUS.items():
    _OBSERVATION_STATUS.setdefault(_fhir_status, _v2_status)
_V2_SYSTEMS = {
    "http://www.ama-assn.org/go/cpt": "CPT",
    "urn:oid:2.16.840.1.113883.6.285": "HCPCS",
    "http://hl7.org/fhir/sid/icd-10": "I10",
    "http://hl7.org/fhir/sid/icd-10-cm": "I10C",
    "http://loinc.org": "LN",
    "http://snomed.info/sct": "SCT",
    "http://unitsofmeasure.org": "UCUM",
    "urn:ietf:bcp:47": "ISO639",
}


def _v2_system(uri: str) -> str:
    """The HL7 coding system name for a FHIR system URI (coding_system backwards)."""
    if not uri:
        return ""
    if uri in _V2_SYSTEMS:
        return _V2_SYSTEMS[uri]
    if uri.startswith("http://terminology.hl7.org/CodeSystem/v2-"):
        return "HL7" + uri.rsplit("v2-", 1)[1]
    if uri.startswith("urn:carelog:code-system:"):
        return uri[len("urn:carelog:code-system:") :]
    return uri  # kept as sent; coding_system gives it back unchanged only for our URNs


def _coding_of(concept: dict[str, Any] | None, system: str = "") -> dict[str, Any]:
    """The first coding of a CodeableConcept (of ``system`` when given), or {}."""
    for coding in (concept or {}).get("coding", []):
        if not system or coding.get("system") == system:
            return dict(coding)
    return {}


def to_identifier(data: dict[str, Any]) -> Identifier:
    """A FHIR Identifier as a CX (the read mapping's identifier_system backwards)."""
    system = str(data.get("system", ""))
    assigner = str((data.get("assigner") or {}).get("display", ""))
    type_code = str(_coding_of(data.get("type"), V2_0203).get("code", ""))
    value = str(data.get("value", ""))
    if system.startswith(AUTHORITY_SYSTEM_PREFIX):
        return Identifier(value, system[len(AUTHORITY_SYSTEM_PREFIX) :], type_code)
    if system.startswith("urn:oid:"):
        return Identifier(value, assigner, type_code, system[len("urn:oid:") :], "ISO")
    if system:
        return Identifier(value, assigner, type_code, system, "URI")
    return Identifier(value, assigner, type_code)


def identifier_from_token(token: str) -> Identifier:
    """A search token ``[system|]value`` as an Identifier (``identifier=`` parameters)."""
    system, sep, value = token.rpartition("|")
    return to_identifier({"system": system, "value": value} if sep else {"value": value})


def _names(data: dict[str, Any]) -> tuple[PersonName, list[dict[str, Any]]]:
    """The official name (else the first) as PID-5's first repetition, and the others."""
    names = [dict(n) for n in data.get("name") or []]
    if not names:
        return PersonName(), []
    official = [n for n in names if n.get("use") == "official"]
    first = (official or names)[0]
    return name_from(first), [n for n in names if n is not first]


def patient_command(data: dict[str, Any], target: UUID | None = None) -> RegisterPatient:
    """Patient -> PID: identifier (PID-3), name (PID-5), birthDate (PID-7), gender (PID-8),
    address (PID-11), telecom (PID-13/14), deceased[x] (PID-29/30)."""
    identifiers = tuple(
        to_identifier(i) for i in data.get("identifier", []) if str(i.get("value", ""))
    )
    if not identifiers:
        raise FhirError(
            422,
            "required",
            "carelog keys patients by identifier: Patient.identifier needs a value",
            "Patient.identifier",
        )
    name, other_names = _names(data)
    return RegisterPatient(
        identifiers=identifiers,
        name=name,
        details=details_from(data, other_names, _code),
        birth_date=str(data.get("birthDate", "")),
        sex=_GENDER.get(str(data.get("gender", "")), ""),
        target=target,
    )


def _location(data: dict[str, Any], status: str) -> Location:
    """The current Encounter.location (active, else planned, else the last) as a PL."""
    stays = data.get("location") or []
    if not stays:
        return Location()
    wanted = ("active", "planned") if status != "finished" else ("completed", "active")
    chosen = next((s for s in stays if s.get("status") in wanted), stays[-1])
    place = chosen.get("location") or {}
    ident = place.get("identifier") or {}
    if ident.get("system") == LOCATION_SYSTEM and ident.get("value"):
        parts = [*str(ident["value"]).split("^"), "", "", ""]
        return Location(parts[0], parts[1], parts[2], parts[3])
    return Location(point_of_care=str(place.get("display", "")))


def _patient_class(data: dict[str, Any]) -> str:
    coding = data.get("class") or {}
    system, code = coding.get("system", ""), str(coding.get("code", ""))
    if system == V3_ACT_CODE:
        return _CLASS.get(code, code)
    if system == NULL_FLAVOR:
        return ""
    if system == V2_0004 or not system:
        return code
    return code


def _when(text: Any) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if value.tzinfo is None:  # a date or a time without offset: FHIR requires one with a time
        raise FhirError(400, "value", f"a dateTime needs a time zone offset: {text!r}")
    return value


def encounter_state(data: dict[str, Any], patient: PatientRef) -> SetVisitState:
    """Encounter -> PV1/PV2: identifier (PV1-19), status (the trigger), class (PV1-2),
    location (PV1-3), type (PV1-4), priority (PV2-25), period (PV1-44/45),
    participant (PV1-7/8/9/17), serviceType (PV1-10), dischargeDisposition (PV1-36)."""
    identifiers = [i for i in data.get("identifier", []) if i.get("value")]
    if not identifiers:
        raise FhirError(
            422,
            "required",
            "carelog keys visits by visit number: Encounter.identifier needs a value",
            "Encounter.identifier",
        )
    visit_ids = [i for i in identifiers if _coding_of(i.get("type"), V2_0203).get("code") == "VN"]
    number = to_identifier((visit_ids or identifiers)[0])
    status = _VISIT_STATUS.get(str(data.get("status", "")))
    if status is None:
        raise FhirError(
            422,
            "not-supported",
            f"Encounter.status {data.get('status')!r} has no HL7 v2 visit event",
            "Encounter.status",
        )
    period = data.get("period") or {}
    try:
        started, ended = _when(period.get("start")), _when(period.get("end"))
    except (FhirError, ValueError) as e:
        raise FhirError(400, "value", str(e), "Encounter.period") from e
    visit = VisitDetails(
        visit_number=number,
        patient_class=_patient_class(data),
        location=_location(data, status),
        admission_type=str(_coding_of((data.get("type") or [None])[0], V2_0007).get("code", "")),
        priority=str(_coding_of(data.get("priority"), V2_0217).get("code", "")),
        started_at=started,
        discharged_at=ended if status == "finished" else None,
        details=encounter_details(data),
    )
    return SetVisitState(status, patient, visit)


def _order(data: dict[str, Any]) -> tuple[str, str]:
    """(order number, set id): our ``order/set/code`` identifier, else the first identifier."""
    for ident in data.get("identifier", []):
        if ident.get("system") == ORDER_SYSTEM and ident.get("value"):
            parts = str(ident["value"]).split("/")
            if len(parts) >= 3:
                return "/".join(parts[:-2]), parts[-2]
    for ident in data.get("identifier", []):
        if ident.get("value"):
            return str(ident["value"]), "1"
    raise FhirError(
        422,
        "required",
        "carelog keys results by order: Observation.identifier needs a value",
        "Observation.identifier",
    )


def _code(concept: dict[str, Any] | None) -> Coded:
    coding = _coding_of(concept)
    text = str(coding.get("display", "") or (concept or {}).get("text", ""))
    return Coded(str(coding.get("code", "")), text, _v2_system(str(coding.get("system", ""))))


def _value(data: dict[str, Any]) -> tuple[str, tuple[str, ...], Decimal | None, str, str]:
    """(OBX-2, OBX-5 values, numeric, comparator, OBX-6 units) for value[x]."""
    if (quantity := data.get("valueQuantity")) is not None:
        number = Decimal(str(quantity.get("value"))) if quantity.get("value") is not None else None
        units = str(quantity.get("unit") or quantity.get("code") or "")
        comparator = str(quantity.get("comparator", ""))
        if comparator:
            return "SN", (f"{comparator}^{number}",), number, comparator, units
        return "NM", ((str(number),) if number is not None else ()), number, "", units
    if (text := data.get("valueString")) is not None:
        return "ST", tuple(str(text).split("\n")), None, "", ""
    if (concept := data.get("valueCodeableConcept")) is not None:
        code = _code(concept)
        return "CWE", ("^".join((code.code, code.text, code.system)).rstrip("^"),), None, "", ""
    for kind in data:
        if kind.startswith("value"):
            raise FhirError(
                422, "not-supported", f"Observation.{kind} is not mapped", f"Observation.{kind}"
            )
    return "", (), None, "", ""


def _reference_range(data: dict[str, Any]) -> str:
    ranges = data.get("referenceRange") or []
    if not ranges:
        return ""
    first = ranges[0]
    if first.get("text"):
        return str(first["text"])
    low, high = (first.get("low") or {}).get("value"), (first.get("high") or {}).get("value")
    return f"{low}-{high}" if low is not None and high is not None else ""


def observation_command(
    data: dict[str, Any], patient: PatientRef, encounter_id: UUID | None
) -> ReportResults:
    """Observation -> an ORU^R01 with one OBR and one OBX (docs/fhir-mapping.md).

    OBR-3 is the order number, OBR-4 the observation's code, OBR-7 and OBX-14
    its effective time, OBR-25 and OBX-11 its status.
    """
    order, set_id = _order(data)
    kind, values, numeric, comparator, units = _value(data)
    try:
        observed = _when(data.get("effectiveDateTime"))
    except (FhirError, ValueError) as e:
        raise FhirError(400, "value", str(e), "Observation.effectiveDateTime") from e
    status = _OBSERVATION_STATUS.get(str(data.get("status", "")), "")
    code = _code(data.get("code"))
    flags = tuple(
        str(c.get("code", ""))
        for concept in data.get("interpretation", [])
        for c in concept.get("coding", [])[:1]
        if c.get("code")
    )
    observation = ObservationValue(
        set_id=set_id,
        value_type=kind,
        code=code,
        values=values,
        numeric=numeric,
        comparator=comparator,
        units=units,
        reference_range=_reference_range(data),
        abnormal_flags=flags,
        status=status,
        observed_at=observed,
    )
    result = LabResult(order, code, status, observed, (observation,))
    return ReportResults(patient, encounter_id, (result,))


def observation_resource_id(command: ReportResults) -> str:
    """The id the read side gives the command's Observation (fhir_observation.observation_id)."""
    result = command.results[0]
    o = result.observations[0]
    report_id = str(report_id_for(result.order_number))
    return row_observation_id(report_id, (o.code.code, o.code.system, o.set_id))
