from __future__ import annotations

import pytest

from engine.errors import ParseError
from engine.hl7.datatypes import read_cx, read_date, read_datetime, read_xpn
from engine.hl7.message import Separators, parse_message
from engine.hl7.stream import split_messages
from tests.conftest import sample


def test_fields_are_numbered_as_hl7_numbers_them(adt_a01: bytes) -> None:
    msg = parse_message(adt_a01)
    assert msg.get("MSH", 1) == "|"
    assert msg.get("MSH", 2) == "^~\\&"
    assert msg.get("MSH", 9, 2) == "A01"
    assert msg.control_id == "MSG00001"
    assert msg.version == "2.5.1"
    assert msg.get("PID", 5, 2) == "JANE"
    assert msg.repetitions("PID", 3)[1] == "987-65-4321^^^SSA^SS"
    assert msg.get("PID", 99) == ""


def test_separators_come_from_each_message() -> None:
    raw = b"MSH#*@!%#LAB#H##20240101##ADT*A01#1#P#2.5\rPID#1##X1*1*2*AUTH%A!Bz\r"
    msg = parse_message(raw)
    assert msg.separators == Separators("#", "*", "@", "!", "%")
    assert msg.get("PID", 3, 4, 1) == "AUTH"
    assert msg.get("PID", 3, 4, 2) == "A!Bz"  # an unterminated escape stays as text


def test_escapes_resolve_in_values() -> None:
    raw = (
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\r"
        b"NTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X41\\\r"
    )
    assert parse_message(raw).get("NTE", 3) == "a|b^c&d~e\\fA"


def test_escape_text_round_trips() -> None:
    seps = Separators()
    text = "a|b^c&d~e\\f"
    assert seps.unescape(seps.escape_text(text)) == text


@pytest.mark.parametrize("raw", [b"", b"PID|1", b"MSH", b"MSH|^~|x"])
def test_unreadable_header_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(raw)


def test_lf_and_crlf_separate_segments() -> None:
    msg = parse_message(sample("adt_a04_v23_lf.hl7"))
    assert [s[0] for s in msg.segments] == ["MSH", "EVN", "PID", "PV1"]
    crlf = parse_message(sample("adt_a04_v23_lf.hl7").replace(b"\n", b"\r\n"))
    assert [s[0] for s in crlf.segments] == ["MSH", "EVN", "PID", "PV1"]


def test_charset_from_msh18_decodes_latin1() -> None:
    raw = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5|||||8859/1\rPID|1||1||MÜLLER\r"
    assert parse_message(raw.encode("latin-1")).get("PID", 5) == "MÜLLER"


def test_datatypes() -> None:
    seps = Separators()
    cx = read_cx("123^^^HOSP&1.2.3&ISO^MR", seps)
    assert (cx.value, cx.authority, cx.authority_id, cx.type_code) == ("123", "HOSP", "1.2.3", "MR")
    assert read_xpn("DOE^JANE^Q^JR^DR^^L", seps).use == "L"
    assert read_date("19800101") == "1980-01-01"
    assert read_date("198001") == "1980-01"
    assert read_date("bad") == ""
    moment = read_datetime("20240102083000+0100")
    assert moment is not None and moment.utcoffset() is not None
    assert moment.isoformat() == "2024-01-02T08:30:00+01:00"
    assert read_datetime("20240230") is None  # February 30th does not exist


def test_split_messages_accepts_every_file_layout(adt_a01: bytes) -> None:
    two = adt_a01 + adt_a01.replace(b"MSG00001", b"MSG00002")
    assert len(split_messages(two)) == 2
    framed = b"\x0b" + adt_a01 + b"\x1c\x0d" + b"\x0b" + adt_a01 + b"\x1c\x0d"
    assert len(split_messages(framed)) == 2
    blank = adt_a01.replace(b"\r", b"\n") + b"\n\n" + adt_a01.replace(b"\r", b"\r\n")
    parts = split_messages(blank)
    assert len(parts) == 2
    assert parts[0] == parts[1] == adt_a01.rstrip(b"\r")
    batch = b"FHS|^~\\&\rBHS|^~\\&\r" + adt_a01 + b"BTS|1\rFTS|1\r"
    assert split_messages(batch) == [adt_a01.rstrip(b"\r")]
