"""Patient index records as FHIR R4 Patient resources (HL7 v2-to-FHIR IG, PID -> Patient).

Departures from the IG's concept maps, also listed in README: an assigning
authority without a universal id becomes the system
``urn:carelog:assigning-authority:<namespace>``, since FHIR wants a URI and
the feed sent only a local name; the namespace also goes to ``assigner``.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.patient import Patient as FhirPatient

from engine.domain.values import Identifier, PersonName
from projections.patients.view import PatientRecord

__all__ = ["AUTHORITY_SYSTEM_PREFIX", "identifier_system", "patient_resource"]

AUTHORITY_SYSTEM_PREFIX = "urn:carelog:assigning-authority:"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

# HL7 table 0001 -> FHIR administrative-gender (v2-to-FHIR IG concept map).
_GENDER = {"F": "female", "M": "male", "O": "other", "A": "other", "N": "other", "U": "unknown"}
# XPN-7 name type (table 0200) -> FHIR name-use.
_NAME_USE = {"L": "official", "D": "usual", "M": "maiden", "N": "nickname", "A": "anonymous"}


def identifier_system(identifier: Identifier) -> str:
    """The FHIR system URI for an identifier's assigning authority."""
    if identifier.authority_id:
        if identifier.authority_id_type.upper() == "ISO":
            return f"urn:oid:{identifier.authority_id}"
        if ":" in identifier.authority_id:
            return identifier.authority_id
    if identifier.authority:
        return AUTHORITY_SYSTEM_PREFIX + identifier.authority
    return ""


def _identifier(identifier: Identifier) -> dict[str, Any]:
    out: dict[str, Any] = {"value": identifier.value}
    if system := identifier_system(identifier):
        out["system"] = system
    if identifier.type_code:
        out["type"] = {"coding": [{"system": V2_0203, "code": identifier.type_code}]}
    if identifier.authority:
        out["assigner"] = {"display": identifier.authority}
    return out


def _name(name: PersonName) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if use := _NAME_USE.get(name.use):
        out["use"] = use
    if name.family:
        out["family"] = name.family
    given = [g for g in (name.given, name.middle) if g]
    if given:
        out["given"] = given
    if name.prefix:
        out["prefix"] = [name.prefix]
    if name.suffix:
        out["suffix"] = [name.suffix]
    return out or None


def patient_resource(record: PatientRecord) -> dict[str, Any]:
    """The FHIR Patient for a record, validated by fhir.resources, as JSON-ready data."""
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": record.patient_id,
        "meta": {"lastUpdated": record.updated_at.isoformat()},
        "identifier": [_identifier(i) for i in record.identifiers],
    }
    if name := _name(record.name):
        data["name"] = [name]
    if gender := _GENDER.get(record.sex):
        data["gender"] = gender
    if record.birth_date:
        data["birthDate"] = record.birth_date
    if record.merged_into:  # v2-to-FHIR: a merged record is inactive and points on
        data["active"] = False
        data["link"] = [
            {"other": {"reference": f"Patient/{record.merged_into}"}, "type": "replaced-by"}
        ]
    resource = FhirPatient.model_validate(data)
    return resource.model_dump(mode="json", exclude_none=True)
