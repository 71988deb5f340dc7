"""The ingestion service with the real validator: profile faults become AE/AR with ERR.

The unit tests run the engine with a validator that finds nothing; these run
it with the compiled profiles, as `carelog serve` does, to check that each new
kind of fault gets the answer docs/integrators.md promises (AE for data the engine
understood but cannot apply, AR for an unsupported type or trigger), that the
ERR locates it once, and that warnings of the tolerant level do not stop a
message.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.application.ingestion import Ingestion
from engine.hl7.ack import build_ack
from native import NativeMessageValidator
from tests.fakes import FixedClock
from tests.messages import adt, dft, oru

pytestmark = pytest.mark.native


@pytest.fixture
def engine() -> Ingestion:
    return Ingestion(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        validator=NativeMessageValidator(),
        clock=FixedClock(),
    )


def _errors(outcome: object) -> list[tuple[int, str, str]]:
    return [(f.code, f.rule, f.location()) for f in outcome.faults]  # type: ignore[attr-defined]


def test_valid_messages_of_each_profile_are_accepted(engine: Ingestion) -> None:
    assert engine.ingest(adt("A01", "1")).ack_code == "AA"
    obx = {1: "1", 2: "NM", 3: "GLU^Glucose", 5: "5.5", 6: "mmol/L", 11: "F"}
    assert engine.ingest(oru("2", [obx, {**obx, 1: "2", 5: "6.1"}])).ack_code == "AA"
    ft1 = {1: "1", 4: "20240101", 6: "CG", 7: "LAB01", 10: "1", 11: "25.00&USD"}
    assert engine.ingest(dft("3", [ft1])).ack_code == "AA"


def test_a_missing_required_segment_is_ae_100_at_that_segment(engine: Ingestion) -> None:
    outcome = engine.ingest(adt("A01", "1", pv1=False))
    assert outcome.ack_code == "AE"
    assert _errors(outcome) == [(100, "SEGMENT_MISSING", "PV1[0]")]
    assert outcome.events_written == 0
    assert outcome.message is not None
    ack = build_ack(outcome.message, "AE", faults=outcome.faults, now=datetime.now(UTC))
    assert b"\rERR||PV1|100^Segment sequence error^HL70357|E" in ack


def test_a_missing_required_field_gives_one_err(engine: Ingestion) -> None:
    outcome = engine.ingest(adt("A01", "1", mrn=""))
    assert outcome.ack_code == "AE"
    # The validator's 101 stops the message before the engine's own PID-3 check.
    assert _errors(outcome) == [(101, "REQUIRED_FIELD_MISSING", "PID[1]-3.1")]


def test_unsupported_type_and_trigger_are_ar_at_msh9(engine: Ingestion) -> None:
    orm = adt("A01", "1").replace(b"ADT^A01^ADT_A01", b"ORM^O01^ORM_O01")
    outcome = engine.ingest(orm)
    assert (outcome.ack_code, _errors(outcome)) == (
        "AR",
        [(200, "UNSUPPORTED_MESSAGE_TYPE", "MSH[1]-9.1")],
    )
    outcome = engine.ingest(adt("A01", "2").replace(b"ADT^A01", b"ADT^A99"))
    assert (outcome.ack_code, _errors(outcome)) == (
        "AR",
        [(201, "UNSUPPORTED_EVENT", "MSH[1]-9.2")],
    )


def test_bad_data_types_and_table_values(engine: Ingestion) -> None:
    obx = {1: "1", 2: "NM", 3: "GLU^Glucose", 5: "high", 11: "F"}
    outcome = engine.ingest(oru("1", [obx]))
    assert (outcome.ack_code, _errors(outcome)) == ("AE", [(102, "BAD_NUMBER", "OBX[1]-5.1")])
    outcome = engine.ingest(oru("2", [{**obx, 5: "5", 11: "Q"}]))
    assert (outcome.ack_code, _errors(outcome)) == ("AE", [(103, "TABLE_VALUE", "OBX[1]-11.1")])
    outcome = engine.ingest(adt("A01", "3", birth="19800230"))
    assert (outcome.ack_code, _errors(outcome)) == ("AE", [(102, "BAD_DATETIME", "PID[1]-7.1")])


def test_tolerant_warnings_do_not_stop_a_message(engine: Ingestion) -> None:
    # PID-8 "X" is not in the user-defined table 0001: a warning in the tolerant level.
    outcome = engine.ingest(adt("A01", "1", sex="X"))
    assert outcome.ack_code == "AA" and outcome.events_written > 0
    strict = Ingestion(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        validator=NativeMessageValidator(strict=True),
        clock=FixedClock(),
    )
    outcome = strict.ingest(adt("A01", "2", sex="X"))
    assert (outcome.ack_code, _errors(outcome)) == ("AE", [(103, "TABLE_VALUE", "PID[1]-8.1")])
