"""Calling the next (or a chosen) patient over HTTP, on every backend: the visit records it,
the queue moves the patient to "being seen" and keeps the others' order, a move or the
end of the visit ends it, and a replay from zero gives the same queues."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Engine, build
from adapters.fhir.routes import FhirWrites
from adapters.http.app import create_app
from adapters.writer import GroupCommitWriter
from engine.config import Settings
from engine.domain.encounter import Encounter
from projections.catalog import spec_for
from projections.queue import MemoryQueueView
from projections.runner import PollingProjectionRunner
from tests import tokens
from tests.asgi import get, request
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario as s
from tests.messages import adt

NURSE = tokens.bearer("carelog/operator carelog/queue.read", sub="nurse.jo")


class Desk:
    """An engine after the ED morning (at noon V2, V6, V1 wait), with the call routes."""

    def __init__(self, store_url: str) -> None:
        self.engine: Engine = build(Settings(store=store_url), validator=FakeMessageValidator())
        for m in s.ALL:
            assert self.engine.ingestion.ingest(m, "test").ack_code == "AA"
        self.engine.runner.catch_up()
        self.writer = GroupCommitWriter(self.engine.ingestion.ingest_many)
        writes = FhirWrites(self.engine.ingestion, self.writer.call, max_bytes=1 << 20)
        self.app = create_app(
            self.engine.views,
            health=lambda: {"ready": True},
            now=lambda: s.NOON,
            fhir_writes=writes,
            access=tokens.access(),
        )
        self.queue: Any = self.engine.views["queue"]

    def call(self, location: str = "ED", **body: Any) -> Any:
        r = request(self.app, "POST", f"/api/queue/{location}/call", json=body, headers=NURSE)
        self.engine.runner.catch_up()
        return r

    def waiting(self, location: str = "ED") -> list[str]:
        return [e.visit_number for e in self.queue.waiting(location, s.NOON)]

    def seen(self, location: str = "ED") -> list[tuple[str, str]]:
        return [(e.visit_number, e.room) for e in self.queue.being_seen(location, s.NOON)]

    def send(self, *messages: bytes) -> None:
        for m in messages:
            assert self.engine.ingestion.ingest(m, "test").ack_code == "AA"
        self.engine.runner.catch_up()

    def close(self) -> None:
        self.writer.close()
        self.engine.close()


@pytest.fixture
def desk(store_url: str) -> Iterator[Desk]:
    d = Desk(store_url)
    yield d
    d.close()


def test_calling_the_next_patient_records_who_called_where_and_keeps_the_order(
    desk: Desk,
) -> None:
    assert desk.waiting() == ["V2", "V6", "V1"]
    r = desk.call(room="Room 3")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["visit_number"], body["room"], body["called_by"]) == ("V2", "Room 3", "nurse.jo")
    assert body["encounter_id"] == s.visit("V2") and body["patient_id"] == s.patient("M2")
    called_at = datetime.fromisoformat(body["called_at"])
    assert called_at.utcoffset() is not None
    assert desk.waiting() == ["V6", "V1"]  # the rest keep their order
    assert desk.seen() == [("V2", "Room 3")]
    (entry,) = desk.queue.being_seen("ED", called_at)
    assert (entry.called_by, entry.called_at, entry.seen_seconds) == ("nurse.jo", called_at, 0.0)

    # The event is on the visit, with its source (who asked, over what).
    events = list(desk.engine.ingestion.events.get(UUID(s.visit("V2"))))
    called = events[-1]
    assert isinstance(called, Encounter.Called)
    assert (called.room, called.called_by, called.point_of_care) == ("Room 3", "nurse.jo", "ED")
    source = next(iter(desk.engine.ingestion.events.get(called.source_message_id)))
    assert (source.message_type, source.sending_application, source.channel) == (
        "queue call",
        "nurse.jo",
        "http",
    )
    history = desk.engine.views["history"].history(s.patient("M2"))
    assert history[-1].entry.event_type == "Encounter.Called"
    assert history[-1].entry.summary == "called from ED to Room 3"
    # The wait ended with the call: the stay says so, for the day's figures.
    record = desk.queue.visit(s.visit("V2"))
    stay = desk.queue.stay(s.visit("V2"), record.stay_seq)
    assert stay.left_by == "called" and stay.left_at == called_at


def test_a_chosen_patient_can_be_called_and_a_second_call_is_refused(desk: Desk) -> None:
    r = desk.call(room="2", encounter_id=s.visit("V1"))
    assert r.status_code == 200 and r.json()["visit_number"] == "V1"
    assert desk.waiting() == ["V2", "V6"]
    again = desk.call(room="4", encounter_id=s.visit("V1"))
    assert again.status_code == 409 and "not waiting at ED" in again.json()["detail"]
    assert again.headers["content-type"] == "application/problem+json"
    # Two clicks before the board caught up: the visit itself refuses the second.
    head = desk.engine.ingestion.recorder.max_notification_id()
    first = request(
        desk.app, "POST", "/api/queue/ED/call", json={"room": "5"}, headers=NURSE
    )  # V2, the read model not caught up yet
    second = request(desk.app, "POST", "/api/queue/ED/call", json={"room": "6"}, headers=NURSE)
    assert first.status_code == 200 and first.json()["visit_number"] == "V2"
    assert second.status_code == 409 and "already called to 5" in second.json()["detail"]
    assert desk.engine.ingestion.recorder.max_notification_id() == head + 2  # one call, one source
    desk.engine.runner.catch_up()
    assert desk.seen() == [("V1", "2"), ("V2", "5")]
    assert desk.waiting() == ["V6"]


def test_bad_calls_get_a_problem_and_change_nothing(desk: Desk) -> None:
    head = desk.engine.ingestion.recorder.max_notification_id()
    cases = [
        ("ED", {"room": ""}, 400, "room must be 1 to 40"),
        ("ED", {"room": "R\x01"}, 400, "control characters"),
        ("ED", {"room": "1", "encounter_id": "nope"}, 400, "not a visit id"),
        ("ED", {"room": "1", "encounter_id": s.visit("V3")}, 409, "not waiting at ED"),
        ("XRAY", {"room": "1"}, 404, "nobody is waiting at XRAY"),
    ]
    for location, body, status, detail in cases:
        r = desk.call(location, **body)
        assert (r.status_code, r.headers["content-type"]) == (status, "application/problem+json")
        assert detail in r.json()["detail"], r.json()
    not_json = request(desk.app, "POST", "/api/queue/ED/call", content=b"{", headers=NURSE)
    assert not_json.status_code == 400
    assert desk.engine.ingestion.recorder.max_notification_id() == head
    assert desk.waiting() == ["V2", "V6", "V1"] and desk.seen() == []


def test_discharge_or_transfer_ends_being_seen_and_a13_brings_the_call_back(desk: Desk) -> None:
    assert desk.call(room="1").status_code == 200  # V2
    assert desk.call(room="2").status_code == 200  # V6
    desk.send(adt("A03", "K1", mrn="M2", visit="V2", patient_class="E", location="ED^2^A^HOSP"))
    assert desk.seen() == [("V6", "2")]
    desk.send(adt("A13", "K2", mrn="M2", visit="V2", patient_class="E", location="ED^2^A^HOSP"))
    assert desk.seen() == [("V2", "1"), ("V6", "2")]  # discharged by mistake: still in room 1
    assert desk.waiting() == ["V1"]
    desk.send(adt("A02", "K3", mrn="M6", visit="V6", patient_class="E", location="XRAY^1^^HOSP"))
    assert desk.seen() == [("V2", "1")]
    assert desk.waiting("XRAY") == ["V6"]  # waiting again, at the X-ray's queue
    # A bed move within ED keeps being seen.
    desk.send(adt("A02", "K4", mrn="M2", visit="V2", patient_class="E", location="ED^9^A^HOSP"))
    assert desk.seen() == [("V2", "1")] and desk.waiting() == ["V1"]


def test_a_replay_from_zero_gives_the_same_calls(desk: Desk) -> None:
    assert desk.call(room="1").status_code == 200
    assert desk.call(room="2", encounter_id=s.visit("V1")).status_code == 200
    desk.send(adt("A03", "K1", mrn="M2", visit="V2", patient_class="E", location="ED^2^A^HOSP"))
    fresh = MemoryQueueView()
    PollingProjectionRunner(desk.engine.ingestion, spec_for("queue").project(fresh)).catch_up()
    later = datetime(2030, 1, 1, tzinfo=UTC)
    assert fresh.being_seen("ED", later) == desk.queue.being_seen("ED", later)
    assert fresh.waiting("ED", later) == desk.queue.waiting("ED", later)
    for n in ("V1", "V2", "V6"):
        assert fresh.visit(s.visit(n)) == desk.queue.visit(s.visit(n))


def test_the_console_board_calls_with_csrf_and_shows_the_room_without_names(desk: Desk) -> None:
    # A bearer token needs no CSRF token (no ambient credential); a form post is sent back.
    r = request(
        desk.app,
        "POST",
        "/console/board/ED/call",
        content=b"room=Room+7",
        headers={**NURSE, "Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/console/board/ED")
    desk.engine.runner.catch_up()
    assert desk.seen() == [("V2", "Room 7")]
    board = get(desk.app, "/console/board/ED", headers=NURSE).text
    assert "Being seen" in board and "Room 7" in board and "DOE, JANE" in board
    display = get(desk.app, "/console/board/ED", params={"mode": "display"}, headers=NURSE).text
    assert "Please go to" in display and "Room 7" in display
    assert "J.D." in display and "DOE" not in display and "JANE" not in display
    assert "V2" not in display and s.visit("V2") not in display
    # htmx asks for the status line: a refusal is said there, not as an error page.
    htmx = {**NURSE, "Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true"}
    bad = request(desk.app, "POST", "/console/board/ED/call", content=b"room=", headers=htmx)
    assert bad.status_code == 200 and "Not called: room must be 1 to 40" in bad.text
    ok = request(desk.app, "POST", "/console/board/ED/call", content=b"room=8", headers=htmx)
    assert ok.status_code == 200 and "to 8." in ok.text


def test_the_queue_rules_decide_who_queues_and_a_rebuild_applies_new_ones(
    store_url: str,
) -> None:
    ward = adt("A01", "W1", mrn="M1", visit="W1", location="WARD1^1", event_time="20240101100000")
    clinic = adt("A04", "W2", mrn="M2", visit="W2", location="CLINIC-A", patient_class="O")
    lab = adt("A04", "W3", mrn="M3", visit="W3", location="LAB", patient_class="O")
    engine = build(
        Settings(store=store_url, queue_locations=("CLINIC-*", "ED")),
        validator=FakeMessageValidator(),
    )
    for m in (ward, clinic, lab):
        assert engine.ingestion.ingest(m, "t").ack_code == "AA"
    engine.runner.catch_up()
    queue = engine.views["queue"]
    names = {
        loc: [e.visit_number for e in queue.waiting(loc, s.NOON)]
        for loc in ("WARD1", "CLINIC-A", "LAB")
    }
    assert names == {"WARD1": [], "CLINIC-A": ["W2"], "LAB": []}

    # New rules, rebuilt from the events: the ward and the lab queue too.
    from projections.queue import QueueProjection, QueueRules

    fresh = MemoryQueueView()
    rules = QueueRules(frozenset({"*"}))
    PollingProjectionRunner(engine.ingestion, QueueProjection(fresh, rules)).catch_up()
    names = {
        loc: [e.visit_number for e in fresh.waiting(loc, s.NOON)]
        for loc in ("WARD1", "CLINIC-A", "LAB")
    }
    assert names == {"WARD1": ["W1"], "CLINIC-A": ["W2"], "LAB": ["W3"]}
    engine.close()
