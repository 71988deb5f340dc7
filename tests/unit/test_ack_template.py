"""The cached positive ACK is byte for byte the ACK built field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

import engine.hl7.ack as ack_module
from engine.hl7.ack import build_ack, format_hl7_datetime
from engine.hl7.message import parse_message
from tests.messages import VERSIONS, adt

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _full(message: bytes, code: str, now: datetime) -> bytes:
    return ack_module._ack_segments(parse_message(message), code, (), "", now, 207)


def _variants() -> list[bytes]:
    base = adt("A01", "CTRL1")
    out = [adt("A01", "CTRL1", version=v) for v in VERSIONS]
    out.append(base.replace(b"|", b"!").replace(b"MSH!^~\\&", b"MSH!^~\\&"))  # other FS
    out.append(base.replace(b"MSH|^~\\&", b"MSH|$~\\&").replace(b"ADT^A01^ADT_A01", b"ADT$A01"))
    out.append(base.replace(b"|P|2.5.1", b"|P|2.5.1||||||8859/1"))  # latin-1 charset
    out.append(base.replace(b"|P|2.5.1", b"|P|2.5.1|||AL|NE"))  # enhanced mode
    out.append(base.replace(b"|CTRL1|", b"|CTRL\\F\\1|"))  # escaped control id, echoed raw
    out.append(base.replace(b"MSH|^~\\&|HIS|HOSP|", b"MSH|^~\\&|HIS\xe9|H\xd6SP|"))
    return out


@pytest.mark.parametrize("code", ["AA", "CA"])
@pytest.mark.parametrize("raw", _variants())
def test_template_ack_equals_the_full_build(
    raw: bytes, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ack_module, "next_control_id", lambda: "OURID000000000000001")
    ack_module._TEMPLATES.clear()
    first = build_ack(parse_message(raw), code, now=NOW)
    again = build_ack(parse_message(raw), code, now=NOW)  # from the cache
    assert first == again == _full(raw, code, NOW)
    assert ack_module._TEMPLATES  # the cache was used


def test_the_control_id_and_msa_2_follow_each_message(monkeypatch: pytest.MonkeyPatch) -> None:
    ack_module._TEMPLATES.clear()
    a = parse_message(build_ack(parse_message(adt("A01", "ONE")), "AA", now=NOW))
    b = parse_message(build_ack(parse_message(adt("A01", "TWO")), "AA", now=NOW))
    assert (a.get("MSA", 2), b.get("MSA", 2)) == ("ONE", "TWO")
    assert a.control_id != b.control_id
    assert len(ack_module._TEMPLATES) == 1  # same sender and type: one template


def test_a_header_holding_the_mark_is_built_in_full() -> None:
    raw = adt("A01", "CTRL1").replace(b"|HIS|", b"|H\x00S|")
    assert build_ack(parse_message(raw), "AA", now=NOW).count(b"H\x00S") == 1


def test_the_timestamp_follows_the_second_and_the_offset() -> None:
    later = NOW + timedelta(seconds=1)
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert format_hl7_datetime(NOW) == "20240506070809+0000"
    assert format_hl7_datetime(NOW.replace(microsecond=999)) == "20240506070809+0000"
    assert format_hl7_datetime(later) == "20240506070810+0000"
    assert format_hl7_datetime(plus_two) == "20240506090809+0200"
    assert format_hl7_datetime(NOW.replace(tzinfo=None)) == "20240506070809"


def test_messages_differing_in_any_echoed_field_get_their_own_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ack_module, "next_control_id", lambda: "OURID000000000000001")
    ack_module._TEMPLATES.clear()
    base = adt("A01", "C1")
    variants = [
        base,
        adt("A04", "C1"),
        adt("A01", "C1", version="2.4"),
        base.replace(b"|HIS|HOSP|CARELOG|HOSP|", b"|LAB|HOSP|CARELOG|HOSP|"),
        base.replace(b"|HIS|HOSP|CARELOG|HOSP|", b"|HIS|HOSP|CARELOG|WARD|"),
        base.replace(b"|P|2.5.1", b"|P|2.5.1||||||8859/1"),
    ]
    for raw in variants * 2:  # the second time, every one comes from the cache
        assert build_ack(parse_message(raw), "AA", now=NOW) == _full(raw, "AA", NOW)
    assert len(ack_module._TEMPLATES) == len(variants)
