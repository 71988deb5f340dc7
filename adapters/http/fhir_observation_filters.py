"""Observation search filters: ``code``, ``status`` and ``date``, beside ``patient``.

An Observation search always names a patient (an indexed lookup of that
patient's results); these filters then apply to the FHIR resources as
served, so a match is judged on exactly what the client sees. ``code`` is a
token (``system|code``, ``code``, ``|code`` for no system, ``system|``),
``status`` a FHIR ObservationStatus, ``date`` a date with a FHIR prefix (eq,
ne, lt, gt, le, ge; ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``) matched on the
day of ``effectiveDateTime``. Comma = OR, a repeated parameter = AND.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import QueryParams

from projections.patients.search import DateRange, date_bounds

__all__ = ["OBSERVATION_FILTERS", "observation_filter"]

OBSERVATION_FILTERS = {"code": "token", "status": "token", "date": "date"}
_STATUSES = {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
             "entered-in-error", "unknown"}  # fmt: skip
_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")
Check = Callable[[dict[str, Any]], bool]


def _token(value: str) -> Check:
    system, bar, code = value.rpartition("|")

    def check(resource: dict[str, Any]) -> bool:
        for coding in resource.get("code", {}).get("coding", []):
            if bar and system == "" and "system" in coding:
                continue
            if bar and system and coding.get("system") != system:
                continue
            if code and coding.get("code") != code:
                continue
            return True
        return False

    return check


def _date(value: str) -> Check:
    prefix, text = ("eq", value)
    if value[:2] in _PREFIXES:
        prefix, text = value[:2], value[2:]
    try:
        low, high = date_bounds(text)
    except ValueError as e:
        raise ValueError(
            f"date: {value!r} is not served (a prefix and YYYY, YYYY-MM or YYYY-MM-DD)"
        ) from e
    wanted = DateRange(prefix, low, high)
    return lambda resource: wanted.matches(str(resource.get("effectiveDateTime", ""))[:10])


def _any(alternatives: list[Check]) -> Check:
    return lambda resource: any(c(resource) for c in alternatives)


def _status(statuses: set[str]) -> Check:
    return lambda resource: resource.get("status") in statuses


def observation_filter(params: QueryParams) -> Check:
    """One predicate for the ``code``/``status``/``date`` parameters; ValueError if bad."""
    checks: list[Check] = []
    for value in params.getlist("code"):
        alternatives = [_token(v) for v in value.split(",") if v]
        if not alternatives:
            raise ValueError("code needs [system|]code")
        checks.append(_any(alternatives))
    for value in params.getlist("status"):
        statuses = {v for v in value.split(",") if v}
        if not statuses or statuses - _STATUSES:
            raise ValueError(f"unknown Observation status in {value!r}")
        checks.append(_status(statuses))
    for value in params.getlist("date"):
        checks.append(_date(value))
    return lambda resource: all(c(resource) for c in checks)
