"""Times as read-model text: UTC, fixed width, so that text order is time order.

Events carry aware datetimes in whatever offset the feed sent. Read-model
tables store them as ``2024-01-01T12:00:00.000000+00:00``: one offset and one
width, so ``ORDER BY`` and range filters on the text column are correct on
SQLite and PostgreSQL alike, and analysts can still cast it
(``datetime(col)`` on SQLite, ``col::timestamptz`` on PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["from_text", "to_text"]


def to_text(moment: datetime) -> str:
    """``moment`` (aware) as fixed-width UTC ISO 8601 text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str | datetime | None) -> datetime | None:
    """The aware datetime a column holds (None stays None)."""
    if text is None or text == "":
        return None
    if isinstance(text, datetime):
        return text
    return datetime.fromisoformat(text)
