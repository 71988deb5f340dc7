"""Patient index records as FHIR R4 Patient resources (HL7 v2-to-FHIR IG, PID -> Patient).

Departures from the IG's concept maps, also listed in README: an assigning
authority without a universal id becomes the system
``urn:carelog:assigning-authority:<namespace>``, since FHIR wants a URI and
the feed sent only a local name; the namespace also goes to ``assigner``.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.patient import Patient as FhirPatient

from adapters.http.fhir_output import checked, instant
from adapters.http.fhir_person import name_element, person_elements
from engine.domain.values import Identifier
from projections.patients.view import PatientRecord

__all__ = ["AUTHORITY_SYSTEM_PREFIX", "identifier_system", "patient_resource"]

AUTHORITY_SYSTEM_PREFIX = "urn:carelog:assigning-authority:"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

# HL7 table 0001 -> FHIR administrative-gender (v2-to-FHIR IG concept map).
_GENDER = {"F": "female", "M": "male", "O": "other", "A": "other", "N": "other", "U": "unknown"}


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


def _identifier(identifier: Identifier, old: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"use": "old"} if old else {}
    out["value"] = identifier.value
    if system := identifier_system(identifier):
        out["system"] = system
    if identifier.type_code:
        out["type"] = {"coding": [{"system": V2_0203, "code": identifier.type_code}]}
    if identifier.authority:
        out["assigner"] = {"display": identifier.authority}
    return out


def _listed(record: PatientRecord) -> list[Identifier]:
    """The identifiers in the order every view gives them: the patient's own first (MR
    first among them), then those taken over from merged-away records."""
    old = record.old_identifiers
    return sorted(
        record.identifiers,
        key=lambda i: (i.key() in old, i.type_code != "MR", i.authority, i.value),
    )


def patient_resource(record: PatientRecord) -> dict[str, Any]:
    """The FHIR Patient for a record, as JSON-ready data (adapters.http.fhir_output).

    An identifier taken over in a merge (A40, MRG-1) is listed with ``use: old``
    (v2-to-FHIR IG: MRG-1 -> Patient.identifier, use old), after the current ones.
    """
    old = record.old_identifiers
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": record.patient_id,
        "meta": {"lastUpdated": instant(record.updated_at)},
    }
    if identifiers := [_identifier(i, i.key() in old) for i in _listed(record)]:
        data["identifier"] = identifiers
    person = person_elements(record.details)
    names = [n for n in (name_element(record.name),) if n] + person.pop("other_names", [])
    if names:
        data["name"] = names
    if gender := _GENDER.get(record.sex):
        data["gender"] = gender
    if record.birth_date:
        data["birthDate"] = record.birth_date
    data.update(person)
    if record.merged_into:  # v2-to-FHIR: a merged record is inactive and points on
        data["active"] = False
        data["link"] = [
            {"other": {"reference": f"Patient/{record.merged_into}"}, "type": "replaced-by"}
        ]
    return checked(FhirPatient, data)
