"""FHIR Appointment read and search, and `/api/queue/{location}/expected`, over SQLite and
PostgreSQL, with the access layer and its log; patient-compartment tokens see their own only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from adapters.bootstrap import Engine, build
from adapters.http.app import create_app
from adapters.security.access_log import AccessLog, to_records
from engine.config import Settings
from native.validator import NativeMessageValidator
from tests import tokens
from tests.asgi import get
from tests.messages import adt, siu

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
MESSAGES = (
    siu("S12", "1", appointment="A1", mrn="MRNA", start="20240102090000"),
    siu("S12", "2", appointment="A2", mrn="MRNB", start="20240102100000"),
    siu("S12", "3", appointment="A3", mrn="MRNA", start="20240215080000", location="CLINIC2"),
    siu("S12", "4", appointment="A4", mrn="MRNB", start="20240102110000"),
    siu("S15", "5", appointment="A4", mrn="MRNB"),
    adt("A04", "6", mrn="MRNA", visit="VA", patient_class="O", location="CLINIC1",
        event_time="20240102085500"),
)  # fmt: skip


class World:
    def __init__(self, engine: Engine, log: AccessLog) -> None:
        self.engine = engine
        self.log = log
        self.app = create_app(
            engine.http_views(),
            health=lambda: {"ready": True},
            now=lambda: NOW,
            access=tokens.access(log),
        )
        (a,) = engine.patients.find_by_identifier("MRNA")
        (b,) = engine.patients.find_by_identifier("MRNB")
        self.a, self.b = a.patient_id, b.patient_id

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return get(self.app, path, headers=headers or tokens.FULL_ACCESS)

    def ids(self, path: str) -> list[str]:
        r = self.get(path)
        assert r.status_code == 200, r.text
        return [e["resource"]["identifier"][-1]["value"] for e in r.json().get("entry", [])]


@pytest.fixture
def world(durable_store_url: str) -> Iterator[World]:
    engine = build(Settings(store=durable_store_url), validator=NativeMessageValidator())
    for raw in MESSAGES:
        assert engine.ingestion.ingest(raw, "t").ack_code == "AA"
    engine.runner.catch_up()
    log = AccessLog(lambda entries: engine.ingestion.record_access(to_records(entries)))
    yield World(engine, log)
    engine.close()


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


def test_access_is_scoped_and_logged(world: World) -> None:
    a_only = tokens.bearer("patient/*.rs", patient=world.a)
    assert world.get(f"/fhir/Appointment?patient={world.a}", a_only).status_code == 200
    for path in (f"/fhir/Appointment?patient={world.b}", "/fhir/Appointment?date=2024-01-02"):
        r = world.get(path, a_only)
        assert r.status_code == 403, path
        assert world.b not in r.text
    queue_reader = tokens.bearer("carelog/queue.read")
    assert world.get("/api/queue/CLINIC1/expected", queue_reader).status_code == 200
    assert world.get("/fhir/Appointment", queue_reader).status_code == 403
    assert world.get("/api/queue/CLINIC1/expected", tokens.bearer("user/*.rs")).status_code == 403
    assert get(world.app, "/fhir/Appointment", auth=False).status_code == 401
    world.log.flush()
    before = world.engine.access_view.rows()
    world.get("/api/queue/CLINIC1/expected", queue_reader)
    world.get(f"/fhir/Appointment?patient={world.b}")
    world.log.flush()
    rows = world.engine.access_view.rows()[len(before) :]
    assert [(r.resource_type, r.interaction, r.patient_id) for r in rows] == [
        ("Appointment", "read", world.a),
        ("Appointment", "read", world.b),
        ("Appointment", "search", world.b),
    ]


def test_the_capability_statement_lists_appointment(world: World) -> None:
    statement = get(world.app, "/fhir/metadata").json()
    (entry,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Appointment"]
    assert {p["name"] for p in entry["searchParam"]} == {"patient", "date", "status", "location"}
    assert [i["code"] for i in entry["interaction"]] == ["read", "search-type"]
