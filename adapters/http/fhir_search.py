"""What the patient-compartment FHIR searches share: ``?patient=`` and the searchset Bundle."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from adapters.http.fhir_json import FhirResponse, operation_outcome

__all__ = ["include_patients", "patient_search", "searchset", "unsupported_parameters"]

_ALLOWED = {"patient", "_format", "_include"}


def unsupported_parameters(request: Request, allowed: set[str]) -> FhirResponse | None:
    """A 400 OperationOutcome naming the search parameters outside ``allowed``, else None.

    A FHIR server may ignore unknown parameters, but silently widening a
    search (returning more than asked) is worse for an analyst than a refusal.
    """
    unknown = set(request.query_params) - allowed
    if not unknown:
        return None
    return operation_outcome(
        400, "not-supported", f"unsupported search parameter(s): {', '.join(sorted(unknown))}"
    )


def patient_search(
    request: Request, extra: frozenset[str] = frozenset()
) -> tuple[str, FhirResponse | None]:
    """The patient id a ``?patient=`` search names, or an OperationOutcome to answer.

    Accepts ``patient={id}``, ``patient=Patient/{id}`` and an absolute
    ``.../Patient/{id}`` reference; any search parameter besides those and
    ``extra`` is refused (400).
    """
    refusal = unsupported_parameters(request, _ALLOWED | extra)
    if refusal is not None:
        return "", refusal
    values = request.query_params.getlist("patient")
    if len(values) != 1 or not values[0].strip():
        return "", operation_outcome(400, "required", "this search needs exactly one patient={id}")
    reference = values[0].strip()
    _, slash, tail = reference.rpartition("Patient/")
    patient_id = tail if slash else reference
    if not patient_id or "/" in patient_id:
        return "", operation_outcome(
            400, "invalid", f"patient={reference} is not a Patient reference"
        )
    return patient_id, None


def include_patients(request: Request, resource_type: str) -> bool | FhirResponse:
    """Whether ``_include={type}:patient`` (or ``:subject``) asks for the subjects too.

    Any other ``_include`` is refused (an OperationOutcome to answer), never ignored.
    """
    values = request.query_params.getlist("_include")
    allowed = {f"{resource_type}:patient", f"{resource_type}:subject"}
    wrong = sorted(set(values) - allowed)
    if wrong:
        return operation_outcome(
            400,
            "not-supported",
            f"_include={', '.join(wrong)} is not served (only {' or '.join(sorted(allowed))})",
        )
    return bool(values)


def searchset(
    request: Request,
    resource_type: str,
    resources: list[dict[str, Any]],
    included: list[dict[str, Any]] | None = None,
) -> Any:
    """A searchset Bundle of ``resources`` (matches) then ``included`` (each with its type).

    Every entry has its fullUrl; ``total`` counts the matches only, as FHIR says.
    """
    base = str(request.base_url).rstrip("/")
    entries = [
        {
            "fullUrl": f"{base}/fhir/{resource_type}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    entries.extend(
        {
            "fullUrl": f"{base}/fhir/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "include"},
        }
        for r in included or []
    )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": str(request.url)}],
    }
    if entries:  # FHIR arrays are absent, never empty: ``"entry": []`` is invalid JSON FHIR
        bundle["entry"] = entries
    return bundle
