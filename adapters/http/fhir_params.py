"""Parsing of FHIR search parameter values shared by the search routes.

One place for the rules every search applies alike (comma = OR, the date
prefixes, the wording of a refusal), so that Patient, Appointment and the
next type to gain a search refuse the same input with the same text.
"""

from __future__ import annotations

from collections.abc import Callable

from projections.patients.search import DateRange, date_bounds

__all__ = ["PREFIXES", "Refused", "alternatives", "date_range"]

PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")


class Refused(ValueError):
    """A search parameter that cannot be served: answered 400 with its text."""


def alternatives(name: str, value: str) -> tuple[str, ...]:
    """The comma-separated alternatives (OR) of one value; Refused when there are none."""
    out = tuple(v.strip() for v in value.split(",") if v.strip())
    if not out:
        raise Refused(f"{name} needs a value")
    return out


def date_range(
    name: str,
    value: str,
    bounds: Callable[[str], tuple[str, str]] = date_bounds,
    expected: str = "a date (YYYY, YYYY-MM or YYYY-MM-DD)",
) -> DateRange:
    """A date parameter's prefix and the range its text covers (``bounds``).

    Raises:
        Refused: a prefix not served (``ap``, ``sa``, ``eb``) or a text ``bounds`` rejects.
    """
    prefix, text = "eq", value
    if value[:2] in PREFIXES:
        prefix, text = value[:2], value[2:]
    elif value[:2].isalpha():
        raise Refused(f"{name} prefix {value[:2]!r} is not served (eq ne lt gt le ge are)")
    try:
        low, high = bounds(text)
    except ValueError as e:
        raise Refused(f"{name}: {text!r} is not {expected}") from e
    return DateRange(prefix, low, high)
