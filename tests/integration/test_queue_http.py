"""`/api/queue/{location}`, its stats, and FHIR Encounter reads, over every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter

from adapters.bootstrap import build
from adapters.http.app import create_app
from engine.config import Settings
from tests import tokens
from tests.asgi import get
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario as s


@pytest.fixture
def app(store_url: str) -> Iterator[Any]:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    for m in s.ALL:
        assert engine.ingestion.ingest(m, "test").ack_code == "AA"
    engine.runner.catch_up()
    yield create_app(
        engine.views, health=lambda: {"ready": True}, now=lambda: s.NOON, access=tokens.access()
    )
    engine.close()


def test_the_queue_lists_who_waits_in_order_with_waits(app: Any) -> None:
    r = get(app, "/api/queue/ED")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["location"], body["count"]) == ("ED", 3)
    assert datetime.fromisoformat(body["as_of"]) == s.NOON
    assert [e["visit_number"] for e in body["entries"]] == ["V2", "V6", "V1"]
    first = body["entries"][0]
    assert first == {
        "position": 1,
        "patient_id": s.patient("M2"),
        "encounter_id": s.visit("V2"),
        "visit_number": "V2",
        "priority": "U",
        "priority_rank": 1,
        "arrived_at": "2024-01-01T10:05:00+00:00",
        "wait_seconds": 115 * 60.0,
    }
    assert body["entries"][2]["patient_id"] == s.patient("M7")  # merged into M7
    for entry in body["entries"]:
        assert datetime.fromisoformat(entry["arrived_at"]).utcoffset() is not None


def test_a_location_nobody_waits_at_is_an_empty_queue(app: Any) -> None:
    for location in ("XRAY", "NOWHERE"):
        r = get(app, f"/api/queue/{location}")
        assert r.status_code == 200
        assert (r.json()["count"], r.json()["entries"]) == (0, [])


def test_a_location_with_control_characters_is_a_problem(app: Any) -> None:
    r = get(app, "/api/queue/ED%01")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 400 and "control" in r.json()["detail"]
    long = get(app, "/api/queue/" + "W" * 201 + "/stats")
    assert long.status_code == 400 and long.headers["content-type"] == "application/problem+json"


def test_stats_give_average_and_p90_wait_and_volume_per_hour(app: Any) -> None:
    r = get(app, "/api/queue/ED/stats", params={"date": "2024-01-01"})
    assert r.status_code == 200
    body = r.json()
    assert (body["date"], body["timezone"], body["left"], body["arrivals"]) == (
        "2024-01-01",
        "UTC",
        3,
        6,
    )
    assert (body["average_wait_seconds"], body["p90_wait_seconds"]) == (4500.0, 5100.0)
    assert len(body["volume_per_hour"]) == 24
    assert body["volume_per_hour"][10] == {"hour": 10, "arrivals": 6}
    assert sum(h["arrivals"] for h in body["volume_per_hour"]) == 6
    today = get(app, "/api/queue/ED/stats").json()  # no date: today at the site
    assert today == body
    empty = get(app, "/api/queue/ED/stats", params={"date": "2023-12-31"}).json()
    assert (empty["left"], empty["average_wait_seconds"], empty["p90_wait_seconds"]) == (
        0,
        None,
        None,
    )


@pytest.mark.parametrize("bad", ["2024-13-01", "2024-1-1", "yesterday", "2024-02-30", ""])
def test_stats_for_a_date_that_is_not_one_is_a_problem(app: Any, bad: str) -> None:
    r = get(app, "/api/queue/ED/stats", params={"date": bad})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "YYYY-MM-DD" in r.json()["detail"]


def _bundle(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    Bundle.model_validate(r.json())
    entries = r.json().get("entry", [])  # absent when nothing matched
    for e in entries:
        Encounter.model_validate(e["resource"])
    return [e["resource"] for e in entries]


def test_fhir_encounter_search_by_patient_follows_merges(app: Any) -> None:
    m7 = s.patient("M7")
    (v1,) = _bundle(get(app, "/fhir/Encounter", params={"patient": m7}))
    assert _bundle(get(app, "/fhir/Encounter", params={"patient": f"Patient/{m7}"})) == [v1]
    assert v1["id"] == s.visit("V1")
    assert v1["subject"] == {"reference": f"Patient/{m7}"}
    assert v1["status"] == "in-progress"
    assert v1["identifier"][0]["value"] == "V1"
    assert v1["identifier"][0]["type"]["coding"][0]["code"] == "VN"
    assert v1["class"]["code"] == "EMER"  # PV1-2 E
    assert v1["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert v1["period"] == {"start": "2024-01-01T10:00:00Z"}
    # The cancelled transfer to XRAY is not shown; ED is where the visit is.
    assert [(loc["location"]["display"], loc["status"]) for loc in v1["location"]] == [
        ("ED 1 A HOSP", "active")
    ]


def test_fhir_encounter_maps_class_status_and_period(app: Any) -> None:
    (v3,) = _bundle(get(app, "/fhir/Encounter", params={"patient": s.patient("M3")}))
    assert (v3["status"], v3["class"]["code"]) == ("finished", "EMER")
    assert v3["period"] == {"start": "2024-01-01T10:10:00Z", "end": "2024-01-01T11:30:00Z"}
    assert v3["type"][0]["coding"][0]["code"] == "E"
    assert v3["location"][0]["status"] == "completed"
    (v4,) = _bundle(get(app, "/fhir/Encounter", params={"patient": s.patient("M4")}))
    assert v4["priority"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0217",
        "code": "1",
    }
    (v5,) = _bundle(get(app, "/fhir/Encounter", params={"patient": s.patient("M5")}))
    assert v5["status"] == "cancelled"


def test_fhir_encounter_status_filter(app: Any) -> None:
    m3 = s.patient("M3")
    finished = _bundle(get(app, "/fhir/Encounter", params={"patient": m3, "status": "finished"}))
    assert [r["id"] for r in finished] == [s.visit("V3")]
    assert _bundle(get(app, "/fhir/Encounter", params={"patient": m3, "status": "cancelled"})) == []
    assert (
        _bundle(
            get(app, "/fhir/Encounter", params={"patient": m3, "status": "planned,in-progress"})
        )
        == []
    )


def test_fhir_encounter_search_of_an_unknown_patient_is_an_empty_bundle(app: Any) -> None:
    r = get(app, "/fhir/Encounter", params={"patient": "no-such-patient"})
    assert _bundle(r) == [] and r.json()["total"] == 0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "required"),
        ({"patient": ""}, "required"),
        ({"patient": "Group/1"}, "invalid"),
        ({"patient": "x", "status": "bogus"}, "invalid"),
        ({"patient": "x", "participant": "y"}, "not-supported"),
        ({"patient": "x", "date": "ap2024"}, "invalid"),
    ],
)
def test_fhir_encounter_search_errors_are_operation_outcomes(
    app: Any, params: dict[str, str], code: str
) -> None:
    r = get(app, "/fhir/Encounter", params=params)
    assert r.status_code == 400 and r.headers["content-type"] == "application/fhir+json"
    body = r.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code


def test_fhir_encounter_read(app: Any) -> None:
    r = get(app, f"/fhir/Encounter/{s.visit('V6')}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    resource = Encounter.model_validate(r.json())
    assert resource.id == s.visit("V6") and resource.status == "in-progress"
    missing = get(app, "/fhir/Encounter/nope")
    assert missing.status_code == 404
    assert missing.json()["issue"][0]["code"] == "not-found"


def test_the_capability_statement_lists_encounter(app: Any) -> None:
    rest = get(app, "/fhir/metadata").json()["rest"][0]["resource"]
    (encounter,) = [r for r in rest if r["type"] == "Encounter"]
    assert {p["name"] for p in encounter["searchParam"]} >= {"patient", "status"}
