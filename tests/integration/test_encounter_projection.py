"""The encounter read model on every backend: rows, location history, merges, replay."""

from __future__ import annotations

from typing import Any

from adapters.bootstrap import Engine, build
from engine.config import Settings
from engine.domain.values import Location
from projections.catalog import spec_for
from projections.encounters import MemoryEncounterView
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario as s
from tests.messages import adt

VISITS = ("V1", "V2", "V3", "V4", "V5", "V6")


def _engine(store_url: str, messages: list[bytes]) -> Engine:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    for m in messages:
        outcome = engine.ingestion.ingest(m, "test")
        assert outcome.ack_code == "AA", outcome.faults
    engine.runner.catch_up()
    return engine


def test_one_row_per_visit_with_status_times_and_location(store_url: str) -> None:
    engine = _engine(store_url, s.ALL)
    view = engine.views["encounters"]
    rows = {n: view.encounter(s.visit(n)) for n in VISITS}
    assert {n: r.status for n, r in rows.items()} == {
        "V1": "in-progress",
        "V2": "in-progress",  # discharge cancelled
        "V3": "finished",
        "V4": "finished",
        "V5": "cancelled",
        "V6": "in-progress",  # pre-admitted, then arrived
    }
    v3 = rows["V3"]
    assert v3.visit_number is not None and v3.visit_number.value == "V3"
    assert (v3.patient_class, v3.admission_type) == ("E", "E")
    assert (v3.admitted_at, v3.arrived_at, v3.discharged_at) == (
        s.at("1010"),
        s.at("1010"),
        s.at("1130"),
    )
    assert v3.location == Location("ED", "3", "A", "HOSP")
    assert rows["V2"].discharged_at is None
    assert rows["V4"].priority == "1"
    v6 = rows["V6"]
    assert (v6.admitted_at, v6.arrived_at) == (s.at("1030"), s.at("1030"))
    assert [(st.location.point_of_care, st.cause) for st in v6.locations] == [("ED", "arrived")]
    engine.close()


def test_the_location_history_keeps_a_cancelled_transfer_marked(store_url: str) -> None:
    engine = _engine(store_url, [*s.ARRIVALS, *s.MOVES[:1]])
    view = engine.views["encounters"]
    moved = view.encounter(s.visit("V1"))
    assert moved.location.point_of_care == "XRAY"
    assert moved.prior_location == Location("ED", "1", "A", "HOSP")
    assert [(st.location.point_of_care, st.ended_at) for st in moved.locations] == [
        ("ED", s.at("1040")),
        ("XRAY", None),
    ]
    engine.ingestion.ingest(s.MOVES[1], "test")  # A12
    engine.runner.catch_up()
    back = view.encounter(s.visit("V1"))
    assert back.location.point_of_care == "ED" and back.prior_location == Location()
    assert [(st.location.point_of_care, st.ended_at, st.cancelled) for st in back.locations] == [
        ("ED", None, False),  # as if it had never left
        ("XRAY", s.at("1050"), True),
    ]
    assert back.current_stay is not None and back.current_stay.seq == 1
    engine.close()


def test_a_merged_patients_visits_are_listed_under_the_survivor(store_url: str) -> None:
    engine = _engine(store_url, s.ALL)
    view = engine.views["encounters"]
    m1, m7 = s.patient("M1"), s.patient("M7")
    (v1,) = view.visits(m7)
    assert (v1.encounter_id, v1.patient_id, v1.subject_id) == (s.visit("V1"), m1, m7)
    assert [r.encounter_id for r in view.visits(m1)] == [s.visit("V1")]  # the retired id too
    assert view.survivor_of(m1) == m7
    assert [r.encounter_id for r in view.active_visits(m7)] == [s.visit("V1")]
    assert view.current_location(m7) == Location("ED", "1", "A", "HOSP")
    assert view.visits(s.patient("M3"), ("in-progress",)) == []
    assert view.current_location(s.patient("M3")) is None
    assert view.visits("nobody") == []

    # A new visit for the survivor lands beside the merged one, newest first.
    later = adt("A04", "Q900", mrn="M7", visit="V9", location="ED", event_time="20240101115500")
    assert engine.ingestion.ingest(later, "test").ack_code == "AA"
    # ... and a chain: M7 merged into M8 carries M1's visit along.
    assert engine.ingestion.ingest(s.a40("Q901", "M8", "M7", "1158"), "test").ack_code == "AA"
    engine.runner.catch_up()
    m8 = s.patient("M8")
    assert [r.encounter_id for r in view.visits(m8)] == [s.visit("V9"), s.visit("V1")]
    assert view.survivor_of(m1) == m8 and view.survivor_of(m7) == m8
    engine.close()


def _snapshot(view: Any) -> dict[str, Any]:
    patients = [s.patient(f"M{n}") for n in range(1, 8)]
    return {
        "encounters": {n: view.encounter(s.visit(n)) for n in VISITS},
        "visits": {p: view.visits(p) for p in patients},
        "survivors": {p: view.survivor_of(p) for p in patients},
    }


def test_replay_from_zero_equals_live_and_twice_changes_nothing(store_url: str) -> None:
    engine = _engine(store_url, s.ARRIVALS)
    for m in [*s.ARRIVED, *s.MOVES]:  # live: one catch-up per message
        engine.ingestion.ingest(m, "test")
        engine.runner.catch_up()
    live = _snapshot(engine.views["encounters"])
    spec = spec_for("encounters")
    fresh = MemoryEncounterView()
    assert PollingProjectionRunner(engine.ingestion, spec.project(fresh)).catch_up() > 0
    assert _snapshot(fresh) == live
    assert PollingProjectionRunner(engine.ingestion, spec.project(fresh)).catch_up() == 0
    assert _snapshot(fresh) == live
    rerun = PollingProjectionRunner(engine.ingestion, spec.project(engine.views["encounters"]))
    assert rerun.catch_up() == 0
    assert _snapshot(engine.views["encounters"]) == live
    engine.close()


def test_an_arrival_elsewhere_than_planned_drops_the_planned_place(store_url: str) -> None:
    planned = adt("A05", "P1", location="WARD1^1", patient_class="P", event_time="20240101080000")
    arrived = adt("A01", "P2", location="ICU^2", event_time="20240101100000")
    engine = _engine(store_url, [planned])
    view = engine.views["encounters"]
    record = view.encounter(s.visit("V1"))
    assert (record.status, record.arrived_at, record.location.point_of_care) == (
        "planned",
        None,
        "WARD1",
    )
    assert engine.ingestion.ingest(arrived, "test").ack_code == "AA"
    engine.runner.catch_up()
    record = view.encounter(s.visit("V1"))
    assert (record.status, record.arrived_at) == ("in-progress", s.at("1000"))
    assert [(st.location.point_of_care, st.cancelled) for st in record.locations] == [
        ("WARD1", True),
        ("ICU", False),
    ]
    assert record.current_stay is not None and record.current_stay.location.point_of_care == "ICU"
    engine.close()


def test_a_visit_saved_for_a_retired_patient_goes_to_the_survivor(store_url: str) -> None:
    from dataclasses import replace

    from eventsourcing.persistence import Tracking

    engine = _engine(store_url, s.ARRIVALS[:1])
    view = engine.views["encounters"]
    position = view.max_tracking_id("carelog")
    view.merge_patient("retired", "survivor", Tracking("carelog", position + 1))
    template = view.encounter(s.visit("V1"))
    late = replace(template, encounter_id="late", patient_id="retired", subject_id="retired")
    view.save_encounter(late, (), Tracking("carelog", position + 2))
    saved = view.encounter("late")
    assert (saved.patient_id, saved.subject_id) == ("retired", "survivor")
    assert [r.encounter_id for r in view.visits("survivor")] == ["late"]
    engine.close()
