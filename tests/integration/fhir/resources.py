"""FHIR resources and Bundles the write tests send."""

from __future__ import annotations

from typing import Any

HOSP = "urn:carelog:assigning-authority:HOSP"
VN = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "VN"}]}
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def patient(
    mrn: str = "MRN1", family: str = "DOE", given: str = "JANE", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": HOSP, "value": mrn, "type": MR}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1980-01-31",
        **extra,
    }


def encounter(
    visit: str = "V1",
    status: str = "in-progress",
    subject: str = "Patient?identifier=" + HOSP + "|MRN1",
    point_of_care: str = "ED",
    klass: str = "EMER",
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": HOSP, "value": visit, "type": VN}],
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "subject": {"reference": subject},
        **extra,
    }
    if point_of_care:
        data["location"] = [
            {
                "location": {
                    "identifier": {"system": "urn:carelog:location", "value": point_of_care},
                    "display": point_of_care,
                },
                "status": "active",
            }
        ]
    return data


def observation(
    order: str = "ORD1",
    code: str = "2345-7",
    value: str = "5.4",
    subject: str = "Patient?identifier=" + HOSP + "|MRN1",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:carelog:order", "value": f"{order}/1/{code}"}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": "Glucose"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": float(value), "unit": "mmol/L"},
        "effectiveDateTime": "2024-01-01T10:00:00+00:00",
        **extra,
    }


def entry(
    resource: dict[str, Any],
    method: str = "POST",
    url: str = "",
    full_url: str = "",
    **request: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": resource,
        "request": {"method": method, "url": url or resource["resourceType"], **request},
    }
    if full_url:
        out["fullUrl"] = full_url
    return out


def bundle(
    *entries: dict[str, Any], kind: str = "transaction", identifier: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Bundle", "type": kind, "entry": list(entries)}
    if identifier:
        out["identifier"] = {"system": "urn:test", "value": identifier}
    return out
