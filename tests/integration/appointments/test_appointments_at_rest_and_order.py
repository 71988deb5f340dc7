"""SIU events are stored as ciphertext under the patient's data key (a later message without
PID too); the SIU profile's tolerant and strict levels on segment order."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from adapters.bootstrap import build
from adapters.crypto.mapper import MAGIC
from engine.config import Settings
from native.validator import NativeMessageValidator
from projections.appointments.view import AppointmentCriteria
from projections.decoding import ERASED, event_decoder
from tests.integration.crypto.canary import Canary
from tests.integration.crypto.test_at_rest import rows
from tests.messages import siu

pytestmark = [pytest.mark.native]


def test_appointment_events_are_ciphertext_under_the_patients_key(tmp_path: Path) -> None:
    canary = Canary.new()
    settings = Settings(store=f"sqlite:///{tmp_path / 'var' / 'carelog.db'}")
    engine = build(settings)
    reason = f"FU^{canary.family} follow-up^L"
    booked = siu("S12", "1", mrn=canary.mrn, reason=reason)
    assert engine.ingestion.ingest(booked).ack_code == "AA"
    engine.close()
    engine = build(settings)  # a new process: the appointment's key is read back
    moved = siu("S13", "2", mrn=canary.mrn, pid=False, reason=reason, start="20240102100000")
    assert engine.ingestion.ingest(moved).ack_code == "AA"
    stored = rows(engine)
    engine.runner.catch_up()
    (record,) = engine.views["appointments"].search(AppointmentCriteria(), 5)
    engine.close()
    kinds = [t.rsplit(":", 1)[1] for *_, t, _ in stored]
    assert kinds == [
        "InboundMessage.Received",
        "Patient.Registered",
        "Appointment.Booked",
        "InboundMessage.Received",
        "Appointment.Rescheduled",
    ]
    for *_, state in stored:
        assert state.startswith(MAGIC)
        assert canary.family.encode() not in state and canary.mrn.encode() not in state
    assert len({state[2:18] for *_, state in stored}) == 1  # one data key: the patient's
    assert canary.family in record.details  # the read model holds what it serves


def test_forgetting_the_patients_key_erases_their_appointment_events(tmp_path: Path) -> None:
    gone, kept = Canary.new(), Canary.new()
    engine = build(Settings(store=f"sqlite:///{tmp_path / 'var' / 'carelog.db'}"))
    ingest = engine.ingestion.ingest
    assert ingest(siu("S12", "1", mrn=gone.mrn)).ack_code == "AA"
    assert ingest(siu("S12", "2", mrn=kept.mrn, appointment="K1")).ack_code == "AA"
    assert ingest(siu("S15", "3", mrn=gone.mrn, pid=False)).ack_code == "AA"
    engine.runner.catch_up()
    (record,) = engine.patients.find_by_identifier(gone.mrn, "HOSP")
    keyring = engine.ingestion.mapper.keyring  # the at-rest mapper (EnvelopeMapper)
    assert keyring.forget([UUID(record.patient_id).hex]) == 1
    decode = event_decoder(engine.ingestion.mapper)
    stored = list(engine.ingestion.recorder.select_notifications(1, 100))
    erased = [n.topic.rsplit(":", 1)[1] for n in stored if decode(n) is ERASED]
    engine.close()
    assert erased == [
        "InboundMessage.Received",
        "Patient.Registered",
        "Appointment.Booked",
        "InboundMessage.Received",
        "Appointment.Cancelled",
    ]


OUT_OF_ORDER = {
    # AIG after AIL inside a RESOURCES group: AIG is not read, AIL still in place
    "aig_after_ail": (
        b"RGS|1|A\rAIL|1|A|CLINIC1^^^HOSP|||20240102090000\r",
        b"RGS|1|A\rAIL|1|A|CLINIC1\rAIG|1|A|ROOM1^Room 1\r",
        "W",
    ),
    # an NTE between PID and RGS where the PATIENT group has none: not read
    "nte_after_pid": (b"RGS|1|A\r", b"NTE|1||note\rRGS|1|A\r", "W"),
    # TQ1 (read: the start time) after PID: the domain's own segments do not fit
    "tq1_after_pid": (b"TQ1|1||||||20240102090000\r", b"", "E"),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_ORDER))
def test_segment_order_tolerant_and_strict(case: str) -> None:
    old, new, tolerant = OUT_OF_ORDER[case]
    raw = siu("S12", "1", doctor="")
    assert old in raw
    raw = raw.replace(old, new)
    if case == "tq1_after_pid":
        raw = raw.replace(b"RGS|1|A\r", b"TQ1|1||||||20240102090000\rRGS|1|A\r")
    lenient = NativeMessageValidator().validate_many([raw])[0]
    strict = NativeMessageValidator(strict=True).validate_many([raw])[0]
    structure = [f for f in lenient if f.code == 100]
    assert structure and {f.severity for f in structure} == {tolerant}, lenient
    assert {f.severity for f in strict if f.code == 100} == {"E"}
