"""Encounter search parameters beyond ``patient``: how each judges a served Encounter.

A search names a patient (``patient``/``subject``, indexed by subject) or a
visit number (``identifier``, indexed by ``encounters_v1_visit_number``); the
other parameters then apply to the FHIR resources as served, so a match is
judged on exactly what the client sees:

- ``status``: Encounter.status, comma = OR;
- ``class``: a token on ``class`` (``system|code``, ``code``, ``|code``, ``system|``);
- ``identifier``: ``[system|]value`` on ``identifier``;
- ``date``: FHIR prefixes (eq ne lt gt le ge) with ``YYYY``, ``YYYY-MM`` or
  ``YYYY-MM-DD``, against the days of ``period`` (an open period runs on):
  ``eq`` the period lies within the range, ``lt`` it starts before it, ``gt``
  it ends after it, ``le``/``ge`` it starts before the range ends / ends
  after it starts, as FHIR defines search on a Period;
- ``_lastUpdated``: prefixes and a date or date-time on ``meta.lastUpdated``;
- ``location``: carelog keeps no Location resources, so ``location`` matches
  the place's PL text (``location.location.identifier.value``, e.g.
  ``ED^1^A^HOSP``) exactly, or its point of care (``ED``).

Comma = OR within a value, a repeated parameter = AND.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams

from adapters.http.fhir_checks import Check, any_of, identifier_check, status_check
from adapters.http.fhir_search import last_updated_check
from projections.patients.search import date_bounds

__all__ = ["ENCOUNTER_SEARCH_PARAMETERS", "ENCOUNTER_SORTS", "encounter_filter"]

ENCOUNTER_SEARCH_PARAMETERS = {
    "patient": "reference",
    "subject": "reference",
    "status": "token",
    "class": "token",
    "date": "date",
    "location": "reference",
    "identifier": "token",
    "_lastUpdated": "date",
}
ENCOUNTER_SORTS = {"date": "period.start"}
_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")
_OPEN_END = "9999-12-31"


def _coding_matches(value: str, coding: dict[str, Any]) -> bool:
    system, bar, code = value.rpartition("|")
    if bar and not system and "system" in coding:
        return False
    if bar and system and coding.get("system") != system:
        return False
    return not code or coding.get("code") == code


def _class(value: str) -> Check:
    return lambda resource: _coding_matches(value, resource.get("class", {}))


def _date(value: str) -> Check:
    prefix, text = ("eq", value)
    if value[:2].isalpha():
        prefix, text = value[:2], value[2:]
    if prefix not in _PREFIXES:
        raise ValueError(f"date prefix {prefix!r} is not served (eq ne lt gt le ge)")
    try:
        low, high = date_bounds(text)
    except ValueError as e:
        raise ValueError(f"date: {text!r} is not YYYY, YYYY-MM or YYYY-MM-DD") from e

    def check(resource: dict[str, Any]) -> bool:
        period = resource.get("period", {})
        start = str(period.get("start", ""))[:10]
        if not start:
            return False
        end = str(period.get("end", ""))[:10] or _OPEN_END
        inside = low <= start and end < high
        return {
            "eq": inside,
            "ne": not inside,
            "lt": start < low,
            "le": start < high,
            "gt": end >= high,
            "ge": end >= low,
        }[prefix]

    return check


def _location(value: str) -> Check:
    def check(resource: dict[str, Any]) -> bool:
        for stay in resource.get("location", []):
            text = str(stay.get("location", {}).get("identifier", {}).get("value", ""))
            if value in (text, text.split("^")[0]):
                return True
        return False

    return check


def _values(params: QueryParams, name: str) -> list[list[str]]:
    out = []
    for value in params.getlist(name):
        alternatives = [v for v in value.split(",") if v]
        if not alternatives:
            raise ValueError(f"{name} needs a value")
        out.append(alternatives)
    return out


def encounter_filter(params: QueryParams, statuses: frozenset[str]) -> Check:
    """One predicate for ``status``, ``class``, ``identifier``, ``date``, ``location``.

    ValueError (answered 400) for a value that cannot be served.
    """
    checks: list[Check] = []
    for value in params.getlist("status"):
        checks.append(status_check(value, statuses, "Encounter"))
    for alternatives in _values(params, "class"):
        checks.append(any_of([_class(v) for v in alternatives]))
    for alternatives in _values(params, "identifier"):
        checks.append(any_of([identifier_check(v) for v in alternatives]))
    for alternatives in _values(params, "date"):
        checks.append(any_of([_date(v) for v in alternatives]))
    for value in params.getlist("_lastUpdated"):
        checks.append(last_updated_check(value))
    for alternatives in _values(params, "location"):
        checks.append(any_of([_location(v) for v in alternatives]))
    return lambda resource: all(c(resource) for c in checks)
