"""The CapabilityStatement lists exactly the search parameters, includes and revincludes each
route accepts: every listed one is accepted, every other one is refused as unsupported."""

from __future__ import annotations

from typing import Any

from tests.integration.fhir.client import FhirClient
from tests.integration.fhir.test_searches import world  # noqa: F401  (the fixture)

UNSUPPORTED = "unsupported search parameter"
# Names a client might try on any type: each is either listed for the type, or refused.
CANDIDATES = {
    "identifier", "patient", "subject", "status", "code", "category", "date", "class",
    "location", "value-quantity", "encounter", "name", "family", "given", "birthdate",
    "gender", "address", "performer", "result", "account", "_id", "_lastUpdated", "_sort",
    "_text", "_content", "_has", "_tag", "_elements", "_total", "_revinclude", "_include",
}  # fmt: skip
# Result parameters (like _count) a type serves: not listed as search parameters.
RESULT_PARAMETERS = {"Patient": {"_total"}}
SAMPLE = {"token": "x", "string": "a", "date": "2024", "quantity": "5", "reference": ""}
SORT = {"Patient": "family", "Encounter": "date", "Observation": "date", "DiagnosticReport": "date"}


def _statement(fhir: FhirClient) -> dict[str, dict[str, Any]]:
    body = fhir.get("/fhir/metadata").json()
    return {r["type"]: r for r in body["rest"][0]["resource"] if "searchParam" in r}


def _diagnostics(fhir: FhirClient, kind: str, query: str) -> str:
    answer = fhir.get(f"/fhir/{kind}?{query}")
    if answer.status_code == 200:
        return ""
    assert answer.status_code == 400, (kind, query, answer.status_code, answer.text)
    return str(answer.json()["issue"][0]["diagnostics"])


def test_every_listed_parameter_is_accepted_and_every_other_refused(
    fhir: FhirClient,
    world: dict[str, str],  # noqa: F811
) -> None:
    patient = world["MRN1"]
    listed = _statement(fhir)
    assert set(listed) >= {"Patient", "Encounter", "Observation", "DiagnosticReport",
                           "ChargeItem", "Account", "AuditEvent"}  # fmt: skip
    for kind, resource in listed.items():
        if kind == "AuditEvent":
            continue  # the access log's own search (tests/integration/access)
        params = {p["name"]: p["type"] for p in resource["searchParam"]}
        anchor = "" if kind == "Patient" else f"patient={patient}&"
        for name in sorted(CANDIDATES | set(params)):
            if name in ("_include", "_revinclude"):
                continue  # judged by their own lists below
            if name in RESULT_PARAMETERS.get(kind, ()):
                continue  # served, but not a search parameter (test_patient_search)
            value = (
                SORT.get(kind, "x") if name == "_sort" else SAMPLE.get(params.get(name, ""), "x")
            )
            if params.get(name) == "reference":
                value = patient
            base = "" if name in ("patient", "subject") else anchor
            text = _diagnostics(fhir, kind, f"{base}{name}={value}")
            assert (UNSUPPORTED in text) == (name not in params), (kind, name, text)
        for key, param in (("searchInclude", "_include"), ("searchRevInclude", "_revinclude")):
            for value in resource.get(key, []):
                text = _diagnostics(fhir, kind, f"{anchor}{param}={value}")
                assert text == "", (kind, param, value, text)
            refused = _diagnostics(fhir, kind, f"{anchor}{param}={kind}:nothing")
            assert refused, (kind, param)
