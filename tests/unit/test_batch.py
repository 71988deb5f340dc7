"""HL7 batches in one frame: splitting the envelope, and the batch acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.hl7.ack import build_ack
from engine.hl7.batch import build_batch_ack, is_batch, read_batch
from engine.hl7.message import parse_message
from tests.messages import adt

NOW = datetime(2024, 1, 2, tzinfo=UTC)


def test_is_batch_only_for_fhs_or_bhs_first() -> None:
    assert is_batch(b"FHS|^~\\&\rBHS|^~\\&\r")
    assert is_batch(b"\r\nBHS|^~\\&\r")
    assert not is_batch(adt("A01", "1"))
    assert not is_batch(b"BTS|0\r")


def test_two_batches_with_lf_separators_split_into_their_messages() -> None:
    one, two, three = adt("A01", "1"), adt("A08", "2"), adt("A04", "3", mrn="M9")
    data = (
        b"FHS|^~\\&|LAB|HOSP\nBHS|^~\\&|LAB|HOSP|||||||B1\n"
        + one.replace(b"\r", b"\n")
        + b"\n"
        + two.replace(b"\r", b"\n")
        + b"BTS|2\nBHS|^~\\&|LAB|HOSP|||||||B2\n"
        + three.replace(b"\r", b"\n")
        + b"BTS|1\nFTS|2\n"
    )
    file = read_batch(data)
    assert [b.header[11] for b in file.batches] == ["B1", "B2"]
    assert [len(b.messages) for b in file.batches] == [2, 1]
    assert file.messages == [one, two, three]  # segments rejoined with \r, blank lines dropped
    assert [b.trailer_count for b in file.batches] == ["2", "1"]


def test_messages_without_bhs_form_one_batch_and_the_ack_mirrors_the_envelope() -> None:
    file = read_batch(b"FHS|^~\\&|LAB|HOSP|CL|HOSP|||||F1\r" + adt("A01", "1") + b"FTS|1\r")
    assert len(file.batches) == 1 and file.batches[0].header == []
    acks = [[build_ack(parse_message(m), "AE", now=NOW, text="bad|data") for m in file.messages]]
    answer = build_batch_ack(file, acks, ["0 of 1 accepted; 1:AE"], now=NOW)
    lines = answer.decode().split("\r")
    assert lines[0].startswith("FHS|^~\\&|CL|HOSP|LAB|HOSP|")
    assert lines[0].split("|")[11] == "F1"
    assert lines[1].startswith("BHS|^~\\&|")
    assert [line[:3] for line in lines if line] == ["FHS", "BHS", "MSH", "MSA", "ERR", "BTS", "FTS"]
    assert "BTS|1|0 of 1 accepted; 1:AE" in lines


def test_messages_that_asked_for_no_ack_are_left_out_and_not_counted() -> None:
    file = read_batch(b"BHS|^~\\&\r" + adt("A01", "1") + adt("A01", "2") + b"BTS|2\r")
    ack = build_ack(parse_message(file.messages[1]), "AA", now=NOW)
    answer = build_batch_ack(file, [[None, ack]], ["2 of 2 accepted"], now=NOW).decode()
    assert answer.count("MSA|") == 1
    assert "BTS|1|2 of 2 accepted\r" in answer
