"""The reference validator the suite runs over every FHIR body (tests/fhir_validation.py)
finds what the Python models miss, and carelog's output passes it.

Known-bad resources, each with one fault fhir.resources lets through (a code
outside a required binding, a UCUM unit that is not UCUM, an empty array, a
language tag in the wrong case, an invariant of CapabilityStatement), must
come back with an error at the right place; a clean one with none. Without
this the session-end check could pass by finding nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.http.fhir_json import fhir_strings
from tests.fhir_validation import FAILING, run_validator
from tests.integration.fhir.client import FhirClient

pytestmark = pytest.mark.native  # runs Java (built once by .ci/fhir-validator.sh)

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:carelog:assigning-authority:HOSP", "value": "MRN1"}],
    "gender": "female",
    "birthDate": "1980-01-31",
}
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "status-binding": (
        {
            "resourceType": "Observation",
            "status": "done",
            "code": {"text": "glucose"},
        },
        "Observation.status",
    ),
    "ucum": (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "glucose"},
            "valueQuantity": {
                "value": 5.4,
                "unit": "mmol/L",
                "system": "http://unitsofmeasure.org",
                "code": "mmol/Lx",
            },
        },
        "Observation.value.ofType(Quantity)",
    ),
    "empty-array": (
        {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []},
        "Bundle.entry",
    ),
    "language-case": (
        {
            **PATIENT,
            "communication": [
                {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "EN"}]}}
            ],
        },
        "Patient.communication[0].language",
    ),
    "cpb-14": (
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-22",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
        },
        "CapabilityStatement",
    ),
}


def _write(directory: Path, name: str, resource: dict[str, Any]) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(resource))
    return path


def test_the_validator_finds_each_fault_and_passes_a_clean_resource(tmp_path: Path) -> None:
    for name, (resource, _) in BAD.items():
        _write(tmp_path, name, resource)
    clean = _write(tmp_path, "clean", PATIENT)
    found = run_validator(tmp_path)
    assert sorted(Path(f).stem for f in found) == sorted([*BAD, "clean"])
    assert [f for f in found[str(clean)] if f.severity in FAILING] == []
    for name, (_, location) in BAD.items():
        errors = [f for f in found[str(tmp_path / f"{name}.json")] if f.severity in FAILING]
        assert location in [f.location for f in errors], (name, errors)


def test_control_characters_never_reach_fhir_json(fhir: FhirClient, tmp_path: Path) -> None:
    """A form feed in a read's id is echoed in the diagnostics as U+FFFD (FHIR strings allow
    no C0 controls but TAB, CR, LF; the validator's parser refuses the JSON otherwise)."""
    assert fhir_strings({"a": ["x\x0cy\ttab"]}) == {"a": ["x\ufffdy\ttab"]}
    response = fhir.get("/fhir/Patient/bad%0Cid")
    assert response.status_code == 404
    body = response.json()
    assert "\x0c" not in json.dumps(body, ensure_ascii=False)
    assert "\ufffd" in body["issue"][0]["diagnostics"]
    found = run_validator(_write(tmp_path, "outcome", body))
    assert [f for fs in found.values() for f in fs if f.severity in FAILING] == []
