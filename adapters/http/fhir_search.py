"""What the patient-compartment FHIR searches share: ``?patient=`` and the searchset Bundle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Request

from adapters.http.fhir_json import FhirResponse, operation_outcome
from projections.patients.search import instant_bounds

__all__ = [
    "include_patients",
    "last_updated_check",
    "patient_search",
    "searchset",
    "sort_by",
    "sorted_resources",
    "unsupported_parameters",
]

_ALLOWED = {"patient", "subject", "_format"}  # routes that serve _include add it (extra)


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
    """The patient id a ``?patient=`` (or ``?subject=``) search names, or an OperationOutcome.

    Accepts ``patient={id}``, ``patient=Patient/{id}`` and an absolute
    ``.../Patient/{id}`` reference; any search parameter besides those and
    ``extra`` is refused (400).
    """
    refusal = unsupported_parameters(request, _ALLOWED | extra)
    if refusal is not None:
        return "", refusal
    values = request.query_params.getlist("patient") + request.query_params.getlist("subject")
    if len(values) != 1 or not values[0].strip():
        return "", operation_outcome(
            400, "required", "this search needs exactly one patient={id} (or subject=)"
        )
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


def sort_by(request: Request, served: dict[str, str]) -> tuple[str, bool] | FhirResponse:
    """The ``_sort`` asked for as (resource element path, descending), "" for none.

    ``served`` maps each sortable parameter to the dotted path of the element
    its value is in; any other ``_sort``, or more than one key, is refused.
    """
    keys = [k for value in request.query_params.getlist("_sort") for k in value.split(",") if k]
    if not keys:
        return "", False
    if len(keys) > 1 or keys[0].removeprefix("-") not in served:
        return operation_outcome(
            400,
            "not-supported",
            f"_sort={','.join(keys)} is not served (one of {', '.join(sorted(served))}, - first)",
        )
    return served[keys[0].removeprefix("-")], keys[0].startswith("-")


def sorted_resources(
    resources: list[dict[str, Any]], path: str, descending: bool
) -> list[dict[str, Any]]:
    """``resources`` ordered by the text at ``path`` (missing values last), then by id."""
    if not path:
        return resources

    def value(resource: dict[str, Any]) -> str:
        found: Any = resource
        for part in path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return str(found) if found is not None else ""

    present = [r for r in resources if value(r)]
    missing = [r for r in resources if not value(r)]
    present.sort(key=lambda r: (value(r), r["id"]), reverse=descending)
    return present + missing


_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")


def last_updated_check(value: str) -> Callable[[dict[str, Any]], bool]:
    """``_lastUpdated`` (FHIR prefixes; a date or a date-time) on a served ``meta.lastUpdated``.

    As on Patient (projections.patients.search.instant_bounds): a date covers
    its days from midnight UTC, a date-time its second. ValueError if bad.
    """
    prefix, text = ("eq", value)
    if value[:2].isalpha():
        prefix, text = value[:2], value[2:]
    if prefix not in _PREFIXES:
        raise ValueError(f"_lastUpdated prefix {prefix!r} is not served (eq ne lt gt le ge)")
    try:
        low, high = (datetime.fromisoformat(b) for b in instant_bounds(text))
    except ValueError as e:
        raise ValueError(f"_lastUpdated: {text!r} is not a date or a date-time") from e

    def check(resource: dict[str, Any]) -> bool:
        stamp = resource.get("meta", {}).get("lastUpdated")
        if not stamp:
            return False
        when = datetime.fromisoformat(str(stamp))
        inside = low <= when < high
        return {
            "eq": inside,
            "ne": not inside,
            "lt": when < low,
            "le": when < high,
            "gt": when >= high,
            "ge": when >= low,
        }[prefix]

    return check
