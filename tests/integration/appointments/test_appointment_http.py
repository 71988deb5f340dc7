"""FHIR Appointment read and search, and `/api/queue/{location}/expected`, over SQLite and
PostgreSQL (access: tests/integration/access/test_appointment_access.py)."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from tests.asgi import get
from tests.integration.appointments.world import World, appointments_world
from tests.messages import siu

__all__ = ["appointments_world"]  # the fixture, used by name


@pytest.fixture
def world(appointments_world: World) -> World:
    return appointments_world


def test_read_maps_the_appointment(world: World) -> None:
    (first,) = [
        e["resource"] for e in world.get(f"/fhir/Appointment?patient={world.a}&date=2024-01-02")
        .json()["entry"]
    ]  # fmt: skip
    r = world.get(f"/fhir/Appointment/{first['id']}")
    assert r.status_code == 200 and r.headers["etag"].startswith('W/"')
    body = r.json()
    assert body["status"] == "arrived"  # the A04 at CLINIC1 that morning
    assert body["start"] == "2024-01-02T09:00:00Z"
    assert body["minutesDuration"] == 30
    assert body["identifier"][-1] == {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                             "code": "FILL"}]},
        "value": "A1^SCHED",
    }  # fmt: skip
    actors = [p["actor"] for p in body["participant"]]
    assert actors[0] == {"reference": f"Patient/{world.a}"}
    assert actors[1]["display"] == "CLINIC1 HOSP"
    assert actors[2] == {"identifier": {"value": "D1"}, "display": "ANNA SMITH"}
    assert body["reasonCode"][0]["coding"][0]["code"] == "FU"
    missing = world.get("/fhir/Appointment/nope")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_search_by_patient_date_status_location_and_pages(world: World) -> None:
    assert world.ids(f"/fhir/Appointment?patient={world.a}") == ["A1^SCHED", "A3^SCHED"]
    assert world.ids(f"/fhir/Appointment?patient=Patient/{world.b}") == ["A2^SCHED", "A4^SCHED"]
    assert world.ids("/fhir/Appointment?date=2024-01-02") == [
        "A1^SCHED", "A2^SCHED", "A4^SCHED",
    ]  # fmt: skip
    assert world.ids("/fhir/Appointment?date=ge2024-02&date=lt2024-03") == ["A3^SCHED"]
    assert world.ids("/fhir/Appointment?date=gt2024-01-02") == ["A3^SCHED"]
    assert world.ids("/fhir/Appointment?date=le2024-01-02&status=booked") == ["A2^SCHED"]
    assert world.ids("/fhir/Appointment?status=cancelled,arrived") == ["A1^SCHED", "A4^SCHED"]
    assert world.ids("/fhir/Appointment?location=CLINIC2") == ["A3^SCHED"]
    assert world.ids("/fhir/Appointment?location=Location/CLINIC1&status=booked") == ["A2^SCHED"]
    seen: list[str] = []
    url = "/fhir/Appointment?_count=2"
    while url:
        page = world.get(url).json()
        Bundle.model_validate(page)
        assert len(page["entry"]) <= 2
        seen += [e["resource"]["identifier"][-1]["value"] for e in page["entry"]]
        url = next((x["url"] for x in page["link"] if x["relation"] == "next"), "")
        url = url[url.index("/fhir/") :] if url else ""
    assert seen == ["A1^SCHED", "A2^SCHED", "A4^SCHED", "A3^SCHED"]
    for bad in ("date=xx2024", "date=2024-13", "status=gone", "_count=0", "color=red",
                "_page_after=nonsense"):  # fmt: skip
        r = world.get(f"/fhir/Appointment?{bad}")
        assert r.status_code == 400, bad
        assert r.json()["resourceType"] == "OperationOutcome"


def test_expected_lists_who_is_booked_there_that_day(world: World) -> None:
    r = world.get("/api/queue/CLINIC1/expected")
    assert r.status_code == 200
    body = r.json()
    assert body["date"] == "2024-01-02"
    got = [(e["patient_id"], e["status"], e["start"]) for e in body["entries"]]
    assert got == [
        (world.a, "arrived", "2024-01-02T09:00:00+00:00"),
        (world.b, "booked", "2024-01-02T10:00:00+00:00"),
    ]  # the cancelled A4 is left out
    arrived = body["entries"][0]
    queue = world.get("/api/queue/CLINIC1").json()
    assert [e["encounter_id"] for e in queue["entries"]] == [arrived["encounter_id"]]
    other = world.get("/api/queue/CLINIC2/expected?date=2024-02-15").json()
    assert [e["patient_id"] for e in other["entries"]] == [world.a]
    assert world.get("/api/queue/CLINIC1/expected?date=2024-1-2").status_code == 400


def test_the_capability_statement_lists_appointment(world: World) -> None:
    statement = get(world.app, "/fhir/metadata").json()
    (entry,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Appointment"]
    assert {p["name"] for p in entry["searchParam"]} == {"patient", "date", "status", "location"}
    assert [i["code"] for i in entry["interaction"]] == ["read", "search-type"]


def _walk(world: World, url: str, relation: str, between: Any = None) -> list[list[str]]:
    pages = []
    while url:
        page = world.get(url).json()
        Bundle.model_validate(page)
        pages.append([e["resource"]["identifier"][-1]["value"] for e in page.get("entry", [])])
        if between is not None:
            between(len(pages))
        url = next((x["url"] for x in page["link"] if x["relation"] == relation), "")
        url = url[url.index("/fhir/") :] if url else ""
    return pages


def test_previous_links_walk_back_and_arrivals_shift_no_page(world: World) -> None:
    forward = _walk(world, "/fhir/Appointment?_count=1", "next")
    assert forward == [["A1^SCHED"], ["A2^SCHED"], ["A4^SCHED"], ["A3^SCHED"]]
    last = world.get("/fhir/Appointment?_count=1").json()
    for _ in range(3):
        link = next(x["url"] for x in last["link"] if x["relation"] == "next")
        last = world.get(link[link.index("/fhir/") :]).json()
    relations = {x["relation"] for x in last["link"]}
    assert relations == {"self", "previous"}  # the last page: nothing after it
    back_url = next(x["url"] for x in last["link"] if x["relation"] == "previous")
    back = _walk(world, back_url[back_url.index("/fhir/") :], "previous")
    assert back == [["A4^SCHED"], ["A2^SCHED"], ["A1^SCHED"]]

    def book(page: int) -> None:  # one before everything served, one after
        for n, start in enumerate(("20231201080000", "20250101080000")):
            raw = siu("S12", f"N{page}{n}", appointment=f"N{page}{n}", start=start)
            assert world.engine.ingestion.ingest(raw, "t").ack_code == "AA"
        world.engine.runner.catch_up()

    served = [i for p in _walk(world, "/fhir/Appointment?_count=2", "next", book) for i in p]
    assert len(served) == len(set(served)), "an appointment was served twice"
    assert {"A1^SCHED", "A2^SCHED", "A3^SCHED", "A4^SCHED"} <= set(served), "one was skipped"
    r = world.get("/fhir/Appointment?_page_after=x&_page_before=y")
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
