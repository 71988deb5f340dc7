"""What a patient search asks for, independent of FHIR's wire syntax and of the backend.

String criteria match by prefix on a search key: the text without accents,
case-folded (``Müller`` and ``MULLER`` both have the key ``muller``), as
FHIR defines string search. Dates are ISO text, so a date range is a range
of strings: ``1980`` covers ``[1980, 1981)``, ``1980-02`` covers
``[1980-02, 1980-03)``. Each list of alternatives is ORed; criteria are ANDed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "SORT_COLUMNS",
    "DateRange",
    "Keyset",
    "PatientCriteria",
    "date_bounds",
    "instant_bounds",
    "prefix_bounds",
    "search_key",
]


def search_key(text: str) -> str:
    """``text`` without accents, case-folded: what string search compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """``[low, high)`` holding exactly the keys starting with ``prefix``'s key (binary order)."""
    key = search_key(prefix)
    if not key:
        return "", chr(0x10FFFF)
    return key, key[:-1] + chr(ord(key[-1]) + 1)


def date_bounds(text: str) -> tuple[str, str]:
    """``[low, high)`` of ISO dates a (partial) date covers; ValueError when it is not one."""
    parts = text.split("-")
    if len(parts) == 1 and len(text) == 4 and text.isdigit():
        return text, f"{int(text) + 1:04d}"
    if len(parts) == 2 and len(parts[0]) == 4 and len(parts[1]) == 2:
        year, month = int(parts[0]), int(parts[1])
        if not 1 <= month <= 12:
            raise ValueError(text)
        after = f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"
        return text, after
    day = date.fromisoformat(text)  # YYYY-MM-DD, else ValueError
    return day.isoformat(), (day + timedelta(days=1)).isoformat()


def instant_bounds(text: str) -> tuple[str, str]:
    """``[low, high)`` of UTC instants (ISO text, ``+00:00``) a date or date-time covers.

    For ``_lastUpdated``: a (partial) date covers its days from midnight UTC; a
    date-time (with a zone, UTC when none) covers its second. Full instants on
    both sides, so PostgreSQL casts them to ``timestamptz`` whatever the session's
    zone, and SQLite compares them as text with the stored ``isoformat()``.
    """
    if "T" not in text:
        low, high = date_bounds(text)
        return _midnight(low), _midnight(high)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC).replace(microsecond=0)
    return when.isoformat(), (when + timedelta(seconds=1)).isoformat()


def _midnight(day: str) -> str:
    parts = [*day.split("-"), "01", "01"][:3]
    return f"{parts[0]}-{parts[1]}-{parts[2]}T00:00:00+00:00"


@dataclass(frozen=True, slots=True)
class DateRange:
    """One ``birthdate`` criterion: a FHIR prefix (eq, ne, lt, gt, le, ge) and its bounds."""

    prefix: str
    low: str
    high: str

    def matches(self, value: str) -> bool:
        """Whether an ISO date text is in the range (an empty one never is)."""
        if not value:
            return False
        inside = self.low <= value < self.high
        return {
            "eq": inside,
            "ne": not inside,
            "lt": value < self.low,
            "le": value < self.high,
            "gt": value >= self.high,
            "ge": value >= self.low,
        }[self.prefix]


@dataclass(frozen=True, slots=True)
class PatientCriteria:
    """A patient search: every field given must match (each list is alternatives ORed).

    ``names``/``families``/``givens`` hold lists of prefixes: the outer list is
    ANDed (repeated parameters), the inner ORed (comma-separated values).
    ``identifiers`` are (value, authority or None); ``sexes`` HL7 table 0001 codes.
    """

    ids: tuple[str, ...] = ()
    identifiers: tuple[tuple[str, str | None], ...] = ()
    names: tuple[tuple[str, ...], ...] = ()
    families: tuple[tuple[str, ...], ...] = ()
    givens: tuple[tuple[str, ...], ...] = ()
    birth_dates: tuple[DateRange, ...] = ()
    sexes: tuple[str, ...] | None = None
    last_updated: tuple[DateRange, ...] = ()  # over instants (``instant_bounds``)
    keyset: Keyset = field(default_factory=lambda: Keyset())


# FHIR ``_sort`` names -> the column a page is ordered by (then by patient id).
SORT_COLUMNS = {"family": "family_key", "birthdate": "birth_date", "_lastUpdated": "updated_at"}


@dataclass(frozen=True, slots=True)
class Keyset:
    """The order of a page and where it starts: what makes paging stable while data arrives.

    Rows are ordered by ``sort`` (a key of ``SORT_COLUMNS``, "" for none) then
    by patient id, both ``descending`` or not. ``cursor`` is the (sort value,
    patient id) of the row a page follows (``backward``: precedes); a page is
    the rows strictly beyond it, so rows arriving elsewhere never shift it.
    """

    sort: str = ""
    descending: bool = False
    cursor: tuple[str, str] | None = None
    backward: bool = False
