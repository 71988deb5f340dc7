"""Observation search filters: ``code``, ``category``, ``status``, ``date`` and
``value-quantity``, beside ``patient``.

An Observation search always names a patient (an indexed lookup of that
patient's results); these filters then apply to the FHIR resources as
served, so a match is judged on exactly what the client sees. ``code`` is a
token (``system|code``, ``code``, ``|code`` for no system, ``system|``),
``status`` a FHIR ObservationStatus, ``date`` a date with a FHIR prefix (eq,
ne, lt, gt, le, ge; ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``) matched on the
day of ``effectiveDateTime``. ``category`` is a token like ``code``.
``value-quantity`` is ``[prefix]number[|system|code]`` on ``valueQuantity``:
``eq`` and ``ne`` use the number's implicit range (``5.4`` is [5.35, 5.45), as
FHIR says), ``lt gt le ge`` compare exactly; an empty system matches the code
or the unit text. ``_lastUpdated`` as on Patient, on ``meta.lastUpdated``
(fhir_search.last_updated_check). Comma = OR, a repeated parameter = AND.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import QueryParams

from adapters.http.fhir_checks import Check, any_of, status_check
from adapters.http.fhir_search import last_updated_check
from projections.patients.search import DateRange, date_bounds

__all__ = ["OBSERVATION_FILTERS", "observation_filter"]

OBSERVATION_FILTERS = {
    "code": "token",
    "category": "token",
    "status": "token",
    "date": "date",
    "value-quantity": "quantity",
    "_lastUpdated": "date",
}
_STATUSES = {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
             "entered-in-error", "unknown"}  # fmt: skip
_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")


def _token(value: str, element: str = "code") -> Check:
    system, bar, code = value.rpartition("|")

    def codings(resource: dict[str, Any]) -> list[dict[str, Any]]:
        found = resource.get(element, {})
        concepts = found if isinstance(found, list) else [found]
        return [c for concept in concepts for c in concept.get("coding", [])]

    def check(resource: dict[str, Any]) -> bool:
        for coding in codings(resource):
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


def _quantity(value: str) -> Check:
    prefix, text = ("eq", value)
    if value[:2].isalpha():
        prefix, text = value[:2], value[2:]
    if prefix not in _PREFIXES:
        raise ValueError(f"value-quantity prefix {prefix!r} is not served (eq ne lt gt le ge)")
    number, _, rest = text.partition("|")
    system, _, code = rest.partition("|")
    try:
        wanted = Decimal(number)
    except InvalidOperation as e:
        raise ValueError(f"value-quantity: {number!r} is not a number") from e
    if not wanted.is_finite():
        raise ValueError(f"value-quantity: {number!r} is not a number")
    exponent = wanted.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite number's exponent
    half = Decimal(5).scaleb(exponent - 1)
    low, high = wanted - half, wanted + half

    def compare(actual: Decimal) -> bool:
        return {
            "eq": low <= actual < high,
            "ne": not low <= actual < high,
            "lt": actual < wanted,
            "le": actual <= wanted,
            "gt": actual > wanted,
            "ge": actual >= wanted,
        }[prefix]

    def check(resource: dict[str, Any]) -> bool:
        quantity = resource.get("valueQuantity")
        if not isinstance(quantity, dict) or quantity.get("value") is None:
            return False
        if system and quantity.get("system") != system:
            return False
        if code and code not in (
            (quantity.get("code"),) if system else (quantity.get("code"), quantity.get("unit"))
        ):
            return False
        return compare(Decimal(str(quantity["value"])))

    return check


def observation_filter(params: QueryParams) -> Check:
    """One predicate for the parameters in ``OBSERVATION_FILTERS``; ValueError if bad."""
    checks: list[Check] = []
    for value in params.getlist("code"):
        alternatives = [_token(v) for v in value.split(",") if v]
        if not alternatives:
            raise ValueError("code needs [system|]code")
        checks.append(any_of(alternatives))
    for value in params.getlist("category"):
        alternatives = [_token(v, "category") for v in value.split(",") if v]
        if not alternatives:
            raise ValueError("category needs [system|]code")
        checks.append(any_of(alternatives))
    for value in params.getlist("value-quantity"):
        checks.append(any_of([_quantity(v) for v in value.split(",") if v] or [_quantity("")]))
    for value in params.getlist("_lastUpdated"):
        checks.append(last_updated_check(value))
    for value in params.getlist("status"):
        checks.append(status_check(value, _STATUSES, "Observation"))
    for value in params.getlist("date"):
        checks.append(_date(value))
    return lambda resource: all(c(resource) for c in checks)
