"""The Appointment aggregate and the SIU handlers on the memory store: what each trigger
records, the conflicts (docs/integrators.md), SCH-25 statuses and the appointment's key."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from engine.application.ingestion import Ingestion
from engine.domain.appointment import Appointment, AppointmentDetails, status_for
from engine.domain.ids import appointment_id_for
from engine.domain.values import Location
from engine.errors import InvalidTransitionError
from tests.messages import siu

AT = datetime(2024, 1, 2, 9, tzinfo=UTC)


def _booked(status: str = "") -> Appointment:
    details = AppointmentDetails(start=AT, location=Location("CLINIC1"), filler_status=status)
    return Appointment.book(
        uuid4(), patient_id=uuid4(), placer_id="P", filler_id="F", details=details,
        occurred_at=AT, source_message_id=uuid4(),
    )  # fmt: skip


def test_status_follows_table_0278_whatever_the_case() -> None:
    assert [status_for(c, "booked") for c in ("Started", "COMPLETE", "noshow", "Dc", "")] == [
        "arrived", "fulfilled", "noshow", "cancelled", "booked",
    ]  # fmt: skip
    assert _booked("Waitlist").status == "waitlist"


def test_a_change_keeps_what_the_message_did_not_send() -> None:
    a = _booked()
    a.details = AppointmentDetails(start=AT, duration_minutes=30, location=Location("CLINIC1"))
    later = datetime(2024, 1, 2, 11, tzinfo=UTC)
    kw = {"occurred_at": AT, "source_message_id": uuid4()}
    assert a.change(AppointmentDetails(start=later), rescheduled=True, **kw)
    assert (a.details.start, a.details.location.point_of_care) == (later, "CLINIC1")
    assert a.details.end == datetime(2024, 1, 2, 11, 30, tzinfo=UTC)  # the end moves too
    assert not a.change(AppointmentDetails(), rescheduled=False, **kw)  # nothing new: no event
    assert a.cancel(None, **kw) and not a.cancel(None, **kw)
    with pytest.raises(InvalidTransitionError):
        a.change(AppointmentDetails(start=AT), rescheduled=True, **kw)
    with pytest.raises(InvalidTransitionError):
        a.no_show(**kw)
    b = _booked("Started")
    with pytest.raises(InvalidTransitionError):
        b.cancel(None, **kw)


def test_the_key_is_the_filler_id_else_the_placer_id_per_facility(app: Ingestion) -> None:
    assert app.ingest(siu("S12", "1"), "t").ack_code == "AA"
    assert app.ingest(siu("S12", "2", appointment="", placer="P9"), "t").ack_code == "AA"
    assert app.ingest(siu("S12", "3", facility="OTHER"), "t").ack_code == "AA"
    ids = [
        appointment_id_for("HOSP", "filler\x1fA100^SCHED"),
        appointment_id_for("HOSP", "placer\x1fP9"),
        appointment_id_for("OTHER", "filler\x1fA100^SCHED"),
    ]
    found = [app.current(i) for i in ids]
    assert [type(a).__name__ for a in found] == ["Appointment"] * 3
    assert found[1].placer_id == "P9" and found[1].filler_id == ""


def test_each_trigger_records_its_event(app: Ingestion) -> None:
    steps = [
        (siu("S12", "1"), "Booked"),
        (siu("S13", "2", start="20240102100000"), "Rescheduled"),
        (siu("S14", "3", duration="45", start="20240102100000"), "Modified"),
        (siu("S15", "4"), "Cancelled"),
        (siu("S12", "5", appointment="A2"), "Booked"),
        (siu("S26", "6", appointment="A2"), "NoShow"),
    ]
    for raw, kind in steps:
        outcome = app.ingest(raw, "t")
        assert outcome.ack_code == "AA", outcome.text
        last = app.recorder.select_notifications(1, 1000)[-1]
        assert last.topic.endswith(f"Appointment.{kind}"), (kind, last.topic)
    a = app.current(appointment_id_for("HOSP", "filler\x1fA100^SCHED"))
    assert (a.status, a.details.duration_minutes) == ("cancelled", 45)
    assert a.details.start == datetime(2024, 1, 2, 10, tzinfo=UTC)


def test_an_s12_repeated_with_other_details_is_a_modification(app: Ingestion) -> None:
    assert app.ingest(siu("S12", "1"), "t").ack_code == "AA"
    head = app.recorder.max_notification_id()
    assert app.ingest(siu("S12", "2"), "t").ack_code == "AA"  # same details: only the message
    assert [n.topic.split(":")[1] for n in app.recorder.select_notifications(head + 1, 10)] == [
        "InboundMessage.Received"
    ]
    assert app.ingest(siu("S12", "3", location="CLINIC9"), "t").ack_code == "AA"
    a = app.current(appointment_id_for("HOSP", "filler\x1fA100^SCHED"))
    assert a.details.location.point_of_care == "CLINIC9" and a.version == 2


def test_a_message_for_another_patients_appointment_is_refused(app: Ingestion) -> None:
    assert app.ingest(siu("S12", "1"), "t").ack_code == "AA"
    outcome = app.ingest(siu("S13", "2", mrn="OTHER", start="20240103090000"), "t")
    assert (outcome.ack_code, [f.code for f in outcome.faults]) == ("AE", [207])
    assert [(f.segment_id, f.field) for f in outcome.faults] == [("SCH", 2)]
    without_pid = app.ingest(siu("S13", "3", pid=False, start="20240103090000"), "t")
    assert without_pid.ack_code == "AA"  # S13-S26 may leave PID out: the booked patient
