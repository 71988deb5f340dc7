"""The patient history read model and GET /api/patients/{id}/history, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from adapters.http.app import create_app
from projections.catalog import spec_for
from projections.history import MemoryHistoryView
from projections.runner import PollingProjectionRunner
from tests import tokens
from tests.asgi import get
from tests.integration.audit.helpers import engine_with_stay
from tests.messages import adt, siu
from tests.scenario import STAY

OWN = [
    ("Patient.Registered", "S1"),
    ("Encounter.Admitted", "S1"),
    ("Encounter.Transferred", "S2"),
    ("LabReport.Reported", "S3"),
    ("Account.Opened", "S4"),
    ("Account.ChargePosted", "S4"),
    ("Encounter.Discharged", "S5"),
]
RETIRED = [
    ("Patient.Registered", "S6"),
    ("Encounter.Registered", "S6"),
    ("Patient.Merged", "S7"),
]


def test_the_survivor_sees_every_event_with_its_source_message(store_url: str) -> None:
    engine = engine_with_stay(store_url)
    (mrn1,) = engine.patients.find_by_identifier("MRN1", "HOSP")
    history = engine.views["history"]
    events = history.history(mrn1.patient_id)

    lines = [(e.entry.event_type, e.message.control_id if e.message else "") for e in events]
    assert lines[: len(OWN)] == OWN
    assert lines[len(OWN) : len(OWN) + len(RETIRED)] == RETIRED
    assert lines[-1] == ("Patient.Absorbed", "S7")  # the survivor takes MRN2 (as an old MRN)
    positions = [e.entry.notification_id for e in events]
    assert positions == sorted(positions)
    retired = {e.merged_from for e in events} - {""}
    assert len(retired) == 1 and [e.merged_from != "" for e in events] == [False] * len(OWN) + [
        True
    ] * len(RETIRED) + [False]
    (retired_id,) = retired
    assert history.merged_into(retired_id) == mrn1.patient_id
    # the retired patient's own history is only its own events
    assert [e.entry.event_type for e in history.history(retired_id)] == [t for t, _ in RETIRED]

    transfer = events[2]
    assert transfer.entry.summary == "WARD1^101^A -> ICU^1^A"
    assert transfer.entry.occurred_at == "2024-01-01T10:00:00.000000+00:00"
    assert transfer.message is not None and transfer.message.message_type == "ADT^A02"
    assert transfer.entry.source_message_id == transfer.message.message_id
    assert "DOE" not in "".join(e.entry.summary for e in events)  # no names in summaries
    assert history.history(mrn1.patient_id, datetime(2000, 1, 1, tzinfo=UTC)) == []
    engine.close()


def test_replay_into_a_fresh_view_equals_the_live_history(store_url: str) -> None:
    engine = engine_with_stay(store_url)
    (mrn1,) = engine.patients.find_by_identifier("MRN1", "HOSP")
    fresh = MemoryHistoryView()
    runner = PollingProjectionRunner(engine.ingestion, spec_for("history").project(fresh))
    assert runner.catch_up() > 0
    assert fresh.history(mrn1.patient_id) == engine.views["history"].history(mrn1.patient_id)
    assert runner.catch_up() == 0  # twice changes nothing
    engine.close()


def test_http_history(store_url: str) -> None:
    engine = engine_with_stay(store_url)
    (mrn1,) = engine.patients.find_by_identifier("MRN1", "HOSP")
    app = create_app(engine.views, health=lambda: {"ready": True}, access=tokens.access())

    r = get(app, f"/api/patients/{mrn1.patient_id}/history")
    assert r.status_code == 200
    body = r.json()
    assert body["patient_id"] == mrn1.patient_id and body["as_of"] is None
    assert [e["type"] for e in body["events"]][: len(OWN)] == [t for t, _ in OWN]
    first = body["events"][0]
    assert first["source_message"]["control_id"] == "S1"
    assert first["source_message_id"] == first["source_message"]["message_id"]
    assert first["recorded_at"].endswith("+00:00") and first["merged_from"] is None
    assert sum(1 for e in body["events"] if e["merged_from"]) == len(RETIRED)

    by_identifier = get(app, f"/api/patients/{quote('HOSP|MRN2')}/history")
    assert by_identifier.json()["patient_id"] == mrn1.patient_id  # MRN2 now names the survivor

    cut = body["events"][2]["recorded_at"]
    r = get(app, f"/api/patients/{mrn1.patient_id}/history", params={"as_of": cut})
    assert [e["position"] for e in r.json()["events"]] == [
        e["position"] for e in body["events"][:3]
    ]
    assert (
        get(app, f"/api/patients/{mrn1.patient_id}/history?as_of=2000-01-01").json()["events"] == []
    )

    bad = get(app, f"/api/patients/{mrn1.patient_id}/history", params={"as_of": "noon"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    assert "as_of" in bad.json()["detail"]
    for unknown in ("6f1c3a52-8e0b-4f57-9c59-1f2d0c8a4b11", "HOSP|NOPE", "garbage"):
        r = get(app, f"/api/patients/{quote(unknown)}/history")
        assert r.status_code == 404, unknown
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 404
    engine.close()


def test_events_of_every_message_in_the_stay_are_indexed(store_url: str) -> None:
    engine = engine_with_stay(store_url)
    (mrn1,) = engine.patients.find_by_identifier("MRN1", "HOSP")
    controls = {
        e.message.control_id for e in engine.views["history"].history(mrn1.patient_id) if e.message
    }
    assert controls == {f"S{n}" for n in range(1, len(STAY) + 1)}
    engine.close()


def test_appointments_and_deleted_values_are_in_the_history(store_url: str) -> None:
    """SIU events join the patient's history with their source; an HL7 ``""`` says what
    it deleted (names of fields, never values)."""
    engine = engine_with_stay(
        store_url,
        (
            adt("A01", "H1"),
            siu("S12", "H2"),
            siu("S15", "H3", status="Cancelled"),
            adt("A08", "H4", birth='""'),
        ),
    )
    (mrn1,) = engine.patients.find_by_identifier("MRN1", "HOSP")
    events = engine.views["history"].history(mrn1.patient_id)
    lines = [(e.entry.event_type, e.message.control_id if e.message else "") for e in events]
    assert ("Appointment.Booked", "H2") in lines and ("Appointment.Cancelled", "H3") in lines
    (booked,) = [e for e in events if e.entry.event_type == "Appointment.Booked"]
    assert booked.entry.summary == "at CLINIC1 from 2024-01-02T09:00:00.000000+00:00"
    (update,) = [e for e in events if e.entry.event_type == "Patient.DemographicsUpdated"]
    assert update.entry.summary == "deleted: birth_date" and update.message is not None
    assert "19800101" not in "".join(e.entry.summary for e in events)
    engine.close()
