"""The call routes behind the access layer: the operator scope, the access log entry naming
the called patient, refusals recorded, and CSRF on the console's form post."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import Engine, build
from adapters.console.session import COOKIE, csrf_token, mint_link
from adapters.fhir.routes import FhirWrites
from adapters.http.app import create_app
from adapters.security.access_log import AccessLog, to_records
from adapters.security.policy import rule_for
from adapters.writer import GroupCommitWriter
from engine.config import Settings
from projections.access import AccessRow
from tests import tokens
from tests.asgi import get, request
from tests.fakes import FakeMessageValidator
from tests.messages import adt

_NOON = datetime(2024, 1, 1, 12, tzinfo=UTC)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ROUTES = (("POST", "/api/queue/{location}/call"), ("POST", "/console/board/{location}/call"))


class Ward:
    def __init__(self, path: Path) -> None:
        self.engine: Engine = build(
            Settings(store=f"sqlite:///{path}"), validator=FakeMessageValidator()
        )
        for n in (1, 2, 3):
            raw = adt("A04", f"C{n}", mrn=f"M{n}", visit=f"V{n}", patient_class="E", location="ED")
            assert self.engine.ingestion.ingest(raw, "t").ack_code == "AA"
        self.engine.runner.catch_up()
        self.log = AccessLog(
            lambda entries: self.engine.ingestion.record_access(to_records(entries))
        )
        self.writer = GroupCommitWriter(self.engine.ingestion.ingest_many)
        writes = FhirWrites(self.engine.ingestion, self.writer.call, max_bytes=1 << 20)
        self.app = create_app(
            self.engine.http_views(),
            health=lambda: {"ready": True},
            fhir_writes=writes,
            access=tokens.access(self.log),
        )

    def records_after(self, position: int) -> list[AccessRow]:
        self.log.flush()
        return [r for r in self.engine.access_view.rows() if r.position > position]

    def head(self) -> int:
        self.log.flush()
        return int(self.engine.ingestion.recorder.max_notification_id() or 0)

    def patient(self, mrn: str) -> str:
        (record,) = self.engine.patients.find_by_identifier(mrn)
        return str(record.patient_id)


@pytest.fixture
def ward(tmp_path: Path) -> Iterator[Ward]:
    w = Ward(tmp_path / "carelog.db")
    yield w
    w.writer.close()
    w.engine.close()


def test_each_call_route_has_a_policy_row_for_the_operator_scope() -> None:
    for method, template in ROUTES:
        rule = rule_for(method, template)
        assert rule is not None and (rule.kind, rule.scope, rule.phi) == (
            "scope",
            "carelog/operator",
            True,
        )
        assert (rule.resource_type, rule.interaction) == ("Queue", "call")


def test_a_call_needs_the_operator_scope_and_is_recorded_with_the_patient(ward: Ward) -> None:
    head = ward.head()
    for path in ("/api/queue/ED/call", "/console/board/ED/call"):
        assert request(ward.app, "POST", path, auth=False).status_code == 401
        reader = tokens.bearer("carelog/queue.read user/*.rs", sub="clerk")
        assert (
            request(ward.app, "POST", path, json={"room": "1"}, headers=reader).status_code == 403
        )
    refusals = ward.records_after(head)
    assert [(r.subject, r.outcome, r.method) for r in refusals] == [
        ("", 401, "POST"),
        ("clerk", 403, "POST"),
        ("", 401, "POST"),
        ("clerk", 403, "POST"),
    ]
    ward.engine.runner.catch_up()
    assert len(ward.engine.views["queue"].waiting("ED", _NOON)) == 3  # nobody was called

    operator = tokens.bearer("carelog/operator", sub="nurse.jo")
    head = ward.head()
    r = request(ward.app, "POST", "/api/queue/ED/call", json={"room": "3"}, headers=operator)
    assert r.status_code == 200, r.text
    (record,) = [x for x in ward.records_after(head) if x.outcome == 200]
    assert (record.subject, record.resource_type, record.interaction) == (
        "nurse.jo",
        "Queue",
        "call",
    )
    assert (record.method, record.path) == ("POST", "/api/queue/ED/call")
    first = r.json()["patient_id"]
    assert record.patient_id == first and first in {ward.patient(m) for m in ("M1", "M2", "M3")}

    ward.engine.runner.catch_up()
    head = ward.head()
    form = request(
        ward.app,
        "POST",
        "/console/board/ED/call",
        content=b"room=4",
        headers={**operator, **FORM},
        follow_redirects=False,
    )
    assert form.status_code == 303
    (record,) = [x for x in ward.records_after(head) if x.outcome in (200, 303)]
    assert (record.resource_type, record.interaction) == ("Queue", "call")
    ward.engine.runner.catch_up()
    (seen,) = [e for e in ward.engine.views["queue"].being_seen("ED", _NOON) if e.room == "4"]
    assert record.patient_id == seen.patient_id != first


def _session(ward: Ward) -> str:
    link = mint_link(tokens.ISSUER, "nurse.kim")
    signin = get(ward.app, "/console/signin", params={"code": link}, auth=False)
    assert signin.status_code in (200, 303), signin.text
    cookie: Any = signin.headers["set-cookie"]
    return str(cookie.split(";", 1)[0].split("=", 1)[1])


def test_the_console_form_with_a_session_cookie_needs_its_csrf_token(ward: Ward) -> None:
    session = _session(ward)
    headers = {"Cookie": f"{COOKIE}={session}", **FORM}
    head = ward.engine.ingestion.recorder.max_notification_id()
    for body in (b"room=1", b"room=1&csrf=forged"):
        r = request(
            ward.app, "POST", "/console/board/ED/call", content=body, headers=headers, auth=False
        )
        assert r.status_code == 403 and "CSRF" in r.text
    assert ward.engine.ingestion.recorder.max_notification_id() == head  # nothing recorded
    good = f"room=1&csrf={csrf_token(session)}".encode()
    r = request(
        ward.app,
        "POST",
        "/console/board/ED/call",
        content=good,
        headers=headers,
        auth=False,
        follow_redirects=False,
    )
    assert r.status_code == 303
    ward.engine.runner.catch_up()
    (seen,) = ward.engine.views["queue"].being_seen("ED", _NOON)
    assert (seen.called_by, seen.room) == ("nurse.kim", "1")
