"""HL7 v2 coded values (CWE/CE) as FHIR CodeableConcepts, with FHIR system URIs."""

from __future__ import annotations

from typing import Any

from engine.domain.values import Coded

__all__ = ["codeable", "coding_system"]

BCP47 = "urn:ietf:bcp:47"

# Coding system names (HL7 table 0396) that FT1 and OBX send, as FHIR system URIs.
_SYSTEMS = {
    "CPT": "http://www.ama-assn.org/go/cpt",
    "CPT4": "http://www.ama-assn.org/go/cpt",
    "C4": "http://www.ama-assn.org/go/cpt",
    "HCPCS": "urn:oid:2.16.840.1.113883.6.285",
    "HCPC": "urn:oid:2.16.840.1.113883.6.285",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "LN": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "UCUM": "http://unitsofmeasure.org",
    # ISO 639 language codes are BCP-47 primary language tags (Patient.communication).
    "ISO639": BCP47,
    "ISO639-1": BCP47,
}


def coding_system(system: str) -> str:
    """The FHIR system URI for an HL7 coding system name (table 0396); ours for local ones."""
    if not system:
        return ""
    known = _SYSTEMS.get(system.upper())
    if known:
        return known
    if system.upper().startswith("HL7"):
        return f"http://terminology.hl7.org/CodeSystem/v2-{system[3:]}"
    return f"urn:carelog:code-system:{system}"


def _coding(code: Coded) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code.code}
    if system := coding_system(code.system):
        out["system"] = system
        if system == BCP47:  # BCP-47 spells the language subtag in lower case ("EN" is invalid)
            out["code"] = code.code.lower()
    if code.text:
        out["display"] = code.text
    return out


def codeable(*codes: Coded | None) -> dict[str, Any]:
    """A CodeableConcept with one coding per distinct code sent (FT1-7, FT1-25)."""
    seen: list[Coded] = []
    for code in codes:
        if (
            code is not None
            and code.code
            and all((code.code, code.system) != (s.code, s.system) for s in seen)
        ):
            seen.append(code)
    out: dict[str, Any] = {"coding": [_coding(c) for c in seen]}
    text = next((c.text for c in seen if c.text), "")
    if text:
        out["text"] = text
    if not seen:
        out = {"text": "unknown"}
    return out
