from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.hl7.ack import acknowledgement_code, build_ack, build_reject_ack
from engine.hl7.message import parse_message
from engine.ports import Fault
from tests.conftest import sample

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_aa_swaps_sender_and_receiver_and_echoes_control_id(adt_a01: bytes) -> None:
    ack = parse_message(build_ack(parse_message(adt_a01), "AA", now=NOW))
    assert [s[0] for s in ack.segments] == ["MSH", "MSA"]
    assert (ack.get("MSH", 3), ack.get("MSH", 4)) == ("CARELOG", "HOSP")
    assert (ack.get("MSH", 5), ack.get("MSH", 6)) == ("LAB", "HOSP")
    assert ack.field("MSH", 9) == "ACK^A01^ACK"
    assert ack.version == "2.5.1"
    assert ack.get("MSA", 1) == "AA"
    assert ack.get("MSA", 2) == "MSG00001"
    assert ack.control_id != "MSG00001"


def test_ae_in_v25_carries_err_2_3_4_8(adt_a01: bytes) -> None:
    fault = Fault(103, "TABLE_VALUE", "PID-8 sex 'Q' is not in table 0001", "PID", 3, 8, 1, 1)
    ack = parse_message(build_ack(parse_message(adt_a01), "AE", faults=[fault], now=NOW))
    assert ack.get("MSA", 1) == "AE"
    assert ack.field("ERR", 2) == "PID^3^8^1^1"
    assert ack.field("ERR", 3) == "103^Table value not found^HL70357"
    assert ack.get("ERR", 4) == "E"
    assert ack.get("ERR", 8) == "PID-8 sex 'Q' is not in table 0001"


def test_v23_uses_err_1_and_keeps_encoding_characters() -> None:
    raw = sample("adt_a04_v23_lf.hl7").replace(b"^~\\&", b"^~\\&").replace(b"|", b"!")
    msg = parse_message(raw)
    fault = Fault(101, "REQUIRED", "PV1-2 missing", "PV1", 4, 2)
    ack_bytes = build_ack(msg, "AE", faults=[fault], now=NOW)
    ack = parse_message(ack_bytes)
    assert ack.separators.field == "!"
    assert ack.field("MSH", 9) == "ACK^A04"  # v2.3 has no message structure component
    assert ack.field("ERR", 1) == "PV1^4^2^101&Required field missing&HL70357"


def test_reject_ack_for_unreadable_header_still_echoes_control_id() -> None:
    ack = parse_message(build_reject_ack(b"MSH|bad|APP|FAC|||x||ADT|CTRL9|P|2.5\r", "bad", now=NOW))
    assert ack.get("MSA", 1) == "AR"
    assert ack.get("MSA", 2) == "CTRL9"
    assert ack.get("ERR", 3) == "100"
    garbage = parse_message(build_reject_ack(b"\x00\x01garbage", "not HL7", now=NOW))
    assert garbage.get("MSA", 1) == "AR"
    assert garbage.get("MSA", 2) == ""


@pytest.mark.parametrize(
    ("accept", "application", "outcome", "sent"),
    [
        ("", "", "AA", "AA"),  # original mode
        ("", "", "AE", "AE"),
        ("AL", "AL", "AA", "AA"),  # one ACK on one connection: the application one
        ("AL", "NE", "AA", "CA"),
        ("AL", "NE", "AE", "CE"),
        ("AL", "NE", "AR", "CR"),
        ("NE", "NE", "AA", None),
        ("NE", "ER", "AA", None),
        ("NE", "ER", "AE", "AE"),
        ("ER", "SU", "AE", "CE"),
        ("ER", "SU", "AA", "AA"),
        ("NE", "SU", "AR", None),
        ("AL", "", "AR", "AR"),  # enhanced mode: an empty field means AL
    ],
)
def test_enhanced_mode_answers_with_the_ack_the_sender_asked_for(
    adt_a01: bytes, accept: str, application: str, outcome: str, sent: str | None
) -> None:
    raw = adt_a01.replace(b"|P|2.5.1", f"|P|2.5.1|||{accept}|{application}".encode())
    assert acknowledgement_code(parse_message(raw), outcome) == sent


def test_accept_ack_carries_err_for_ce(adt_a01: bytes) -> None:
    fault = Fault(102, "BAD_DATETIME", "bad", "MSH", 1, 7)
    ack = parse_message(build_ack(parse_message(adt_a01), "CE", faults=[fault], now=NOW))
    assert ack.get("MSA", 1) == "CE"
    assert ack.get("ERR", 3) == "102"
