"""What the patient-compartment FHIR searches share: ``?patient=``, order, pages, the Bundle."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from adapters.http.fhir_json import FhirResponse, operation_outcome
from adapters.http.fhir_paging import (
    AFTER,
    BEFORE,
    DEFAULT_COUNT,
    MAX_COUNT,
    decode_cursor,
    encode_cursor,
    page_link,
)
from projections.patients.search import instant_bounds

__all__ = [
    "PAGE_CONTROLS",
    "Page",
    "include_patients",
    "last_updated_check",
    "patient_search",
    "search_page",
    "searchset",
    "sort_by",
    "unsupported_parameters",
]

PAGE_CONTROLS = frozenset({"_count", AFTER, BEFORE})
"""The paging parameters every patient-compartment search accepts (``search_page``)."""

_ALLOWED = {"patient", "subject", "_format", *PAGE_CONTROLS}  # _include etc.: extra


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
    resources: list[dict[str, Any]] | Page,
    included: list[dict[str, Any]] | None = None,
) -> Any:
    """A searchset Bundle of ``resources`` (matches) then ``included`` (each with its type).

    Every entry has its fullUrl; ``total`` counts the matches only, as FHIR
    says (of every page, when ``resources`` is one page).
    """
    page = resources if isinstance(resources, Page) else Page(resources, len(resources), [])
    resources = page.resources
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
        "total": page.total,
        "link": [{"relation": "self", "url": str(request.url)}, *page.links],
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


def sort_value(resource: dict[str, Any], path: str) -> str:
    """The text at ``path`` (dotted) in ``resource``, "" when absent or no path."""
    found: Any = resource
    for part in path.split(".") if path else ():
        found = found.get(part) if isinstance(found, dict) else None
    return str(found) if found is not None and path else ""


def _order(path: str, descending: bool) -> Callable[[tuple[str, str], tuple[str, str]], int]:
    """Compares two (sort value, id) keys: by value (``descending`` reverses it, ids too),
    ties and valueless rows by id, valueless rows last in either direction."""

    def compare(a: tuple[str, str], b: tuple[str, str]) -> int:
        if bool(a[0]) != bool(b[0]):
            return -1 if a[0] else 1
        sign = -1 if descending and a[0] else 1
        return sign * ((a > b) - (a < b))

    return compare


def sorted_resources(
    resources: list[dict[str, Any]], path: str, descending: bool
) -> list[dict[str, Any]]:
    """``resources`` ordered by the text at ``path`` (missing values last), then by id."""
    if not path:
        return resources
    by = functools.cmp_to_key(_order(path, descending))
    return sorted(resources, key=lambda r: by((sort_value(r, path), r["id"])))


@dataclass(frozen=True)
class Page:
    """One page of a search: its rows, how many matched in all, and its paging links."""

    resources: list[dict[str, Any]]
    total: int
    links: list[dict[str, str]]


def search_page(
    request: Request, resources: list[dict[str, Any]], path: str, descending: bool
) -> Page | FhirResponse:
    """The page ``_count``, ``_page_after`` and ``_page_before`` ask for, in ``_sort`` order.

    Without ``_count`` or a cursor, every match in one page (sorted as asked,
    as found when not). With them, keyset pages as Patient's (fhir_paging):
    ordered by (sort value, id), id alone when no ``_sort``; a page is the
    rows beyond a cursor, so rows that arrive while a client pages shift no
    page. The matches are one patient's rows, so they are ordered here.
    """
    params = request.query_params
    after, before = params.getlist(AFTER), params.getlist(BEFORE)
    count_text = params.get("_count")
    if count_text is None and not after and not before:
        return Page(sorted_resources(resources, path, descending), len(resources), [])
    count_text = count_text or str(DEFAULT_COUNT)
    if not count_text.isdigit():
        return operation_outcome(
            400, "invalid", f"_count must be a whole number, not {count_text!r}"
        )
    if len(after) + len(before) > 1:
        return operation_outcome(400, "invalid", f"give one {AFTER} or {BEFORE}")
    try:
        cursor = decode_cursor((after or before)[0]) if after or before else None
    except ValueError as e:
        return operation_outcome(400, "invalid", str(e))
    count = min(int(count_text), MAX_COUNT)
    compare = _order(path, descending)
    by = functools.cmp_to_key(compare)
    keyed = sorted((((sort_value(r, path), r["id"]), r) for r in resources), key=lambda p: by(p[0]))
    if cursor is None:
        rows = keyed[:count]
    elif after:
        rows = [pair for pair in keyed if compare(pair[0], cursor) > 0][:count]
    else:
        rows = [pair for pair in keyed if compare(pair[0], cursor) < 0][-count:] if count else []
    links = []
    if rows and compare(keyed[-1][0], rows[-1][0]) > 0:
        links.append(page_link(request, "next", AFTER, encode_cursor(*rows[-1][0])))
    if rows and compare(keyed[0][0], rows[0][0]) < 0:
        links.append(page_link(request, "previous", BEFORE, encode_cursor(*rows[0][0])))
    return Page([r for _, r in rows], len(resources), links)


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
