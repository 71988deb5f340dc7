"""Times as read-model text (UTC, fixed width, so that text order is time order), and
times as people type them (``parse_time``: the CLI's ``--as-of``, HTTP's ``as_of``).

Events carry aware datetimes in whatever offset the feed sent. Read-model
tables store them as ``2024-01-01T12:00:00.000000+00:00``: one offset and one
width, so ``ORDER BY`` and range filters on the text column are correct on
SQLite and PostgreSQL alike, and analysts can still cast it
(``datetime(col)`` on SQLite, ``col::timestamptz`` on PostgreSQL).

The text of one instant is written many times: an event's time goes into
several columns of several read models (a visit's admitted, arrived and
updated times, its queue stay, its history row). ``to_text`` therefore
remembers the text of recent instants in a bounded dict. Its key is the
datetime itself, and equal aware datetimes are the same instant whatever
their offset, which is all the UTC text depends on: the text returned is
always what the conversion gives. One exception is kept out: datetimes of
one zone compare by wall time alone, ignoring ``fold``, so the second of two
ambiguous wall times (``fold=1``, a DST fall-back) is never looked up or kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import overload

__all__ = ["from_text", "parse_time", "to_text"]


_LIMIT = 65_536  # instants remembered; emptied when full, so memory stays bounded
_TEXTS: dict[datetime, str] = {}


def to_text(moment: datetime) -> str:
    """``moment`` (aware) as fixed-width UTC ISO 8601 text."""
    if moment.fold:  # equal to its fold=0 twin in the same zone, an hour apart
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    text = _TEXTS.get(moment)
    if text is None:
        if len(_TEXTS) >= _LIMIT:
            _TEXTS.clear()
        text = _TEXTS[moment] = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text


@overload
def from_text(text: str | datetime) -> datetime: ...
@overload
def from_text(text: None) -> None: ...
def from_text(text: str | datetime | None) -> datetime | None:
    """The aware datetime a column holds (None stays None)."""
    if text is None or text == "":
        return None
    if isinstance(text, datetime):
        return text
    return datetime.fromisoformat(text)


def parse_time(text: str, site_timezone: tzinfo = UTC) -> datetime:
    """An ISO 8601 time, as an aware datetime.

    A time without an offset is in the site's zone; a date alone means the
    end of that day there (every event of that day is included).

    Raises:
        ValueError: ``text`` is not an ISO 8601 date or time.
    """
    text = text.strip()
    if len(text) == 10:  # YYYY-MM-DD
        day = date.fromisoformat(text)
        start = datetime.combine(day + timedelta(days=1), time(), site_timezone)
        return start - timedelta(microseconds=1)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=site_timezone)
