"""Remembered texts of ids and times: always exactly what converting them gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

from projections import texts, timestamps
from projections.texts import id_text
from projections.timestamps import to_text


def _direct(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def test_one_instant_in_any_offset_has_one_text() -> None:
    utc = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    plus_two = utc.astimezone(timezone(timedelta(hours=2)))
    assert to_text(plus_two) == "2024-03-01T12:00:00.000000+00:00"
    assert to_text(utc) == to_text(plus_two) == _direct(utc)
    later = utc + timedelta(microseconds=1)
    assert to_text(later) == "2024-03-01T12:00:00.000001+00:00"


def test_the_second_of_two_ambiguous_wall_times_keeps_its_own_instant() -> None:
    # 01:30 happens twice in New York on 2024-11-03; in one zone the two compare
    # equal (fold is ignored), so the remembered text of the first must not serve.
    zone = ZoneInfo("America/New_York")
    first = datetime(2024, 11, 3, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    assert first == second  # why the cache keeps fold=1 out
    assert to_text(first) == "2024-11-03T05:30:00.000000+00:00"
    assert to_text(second) == "2024-11-03T06:30:00.000000+00:00"
    assert to_text(first) == _direct(first)


def test_the_memory_is_bounded_and_still_exact() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(timestamps._LIMIT + 10):
        moment = start + timedelta(seconds=i)
        if i % 9973 == 0:
            assert to_text(moment) == _direct(moment)
        else:
            to_text(moment)
    assert len(timestamps._TEXTS) <= timestamps._LIMIT
    ids = [uuid4() for _ in range(texts._LIMIT + 10)]
    assert [id_text(u) for u in ids] == [str(u) for u in ids]
    assert len(texts._TEXTS) <= texts._LIMIT
    assert id_text("already-text") == "already-text"
