"""Saved filters: per operator, the operator scope only, CSRF with a cookie, in the access log,
and encrypted in the store (a filter may name a visit number)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.utils import get_topic

from adapters.bootstrap import Engine, build
from adapters.console.session import mint_link
from adapters.fhir.routes import FhirWrites
from adapters.http.app import create_app
from adapters.security.access_log import AccessLog, to_records
from engine.config import Settings
from engine.domain.saved_filters import SavedFilters
from projections.audit import verify
from tests import tokens
from tests.asgi import get, request
from tests.fakes import FakeMessageValidator

QUERY = "key_kind=visit&key_value=VISIT-4711&ack_code=AE"
OPERATOR = "carelog/operator"


async def _submit(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[Engine, Any, AccessLog]]:
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'carelog.db'}"), validator=FakeMessageValidator()
    )
    log = AccessLog(lambda entries: engine.ingestion.record_access(to_records(entries)))
    writes = FhirWrites(engine.ingestion, _submit, max_bytes=1 << 20)
    app = create_app(
        engine.http_views(),
        health=lambda: {"ready": True},
        fhir_writes=writes,
        access=tokens.access(log),
    )
    yield engine, app, log
    engine.close()


def test_a_saved_filter_is_the_operators_own(console: tuple[Engine, Any, AccessLog]) -> None:
    engine, app, log = console
    jo = tokens.bearer(OPERATOR, sub="nurse.jo")
    sam = tokens.bearer(OPERATOR, sub="clerk.sam")
    saved = request(
        app, "POST", "/console/filters", headers=jo,
        data={"name": "Transfers of 4711", "query": QUERY + "&bogus=1&hours=0"},
    )  # fmt: skip
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/console/messages?{QUERY}"  # unknown fields dropped

    page = f"http://carelog.test/console/messages?{QUERY}"
    mine = get(app, "/console/filters", headers={**jo, "HX-Current-URL": page})
    assert mine.status_code == 200
    assert f'href="/console/messages?{QUERY.replace("&", "&amp;")}"' in mine.text
    assert "Transfers of 4711" in mine.text
    theirs = get(app, "/console/filters", headers=sam)
    assert "Transfers of 4711" not in theirs.text and "None yet" in theirs.text

    # Encrypted at rest: the visit number is nowhere in the stored bytes.
    topic = get_topic(SavedFilters.Saved)
    db = sqlite3.connect(engine.settings.sqlite_path())
    try:
        states = [
            bytes(r[0])
            for r in db.execute("SELECT state FROM stored_events WHERE topic=?", (topic,))
        ]
    finally:
        db.close()
    assert states and all(b"VISIT-4711" not in s and s.startswith(b"\xce\x01") for s in states)

    removed = request(
        app, "POST", "/console/filters/delete", headers=jo, data={"name": "Transfers of 4711"}
    )
    assert removed.status_code == 303
    assert "Transfers of 4711" not in get(app, "/console/filters", headers=jo).text

    engine.runner.catch_up()  # the read models pass over these events
    assert engine.sealer is not None
    engine.sealer.seal()
    assert verify(engine.ingestion.recorder, engine.ingestion.mapper, engine.sealer).intact
    log.flush()
    rows = [r for r in engine.access_view.rows() if r.path.startswith("/console/filters")]
    assert {(r.subject, r.method, r.outcome) for r in rows} >= {
        ("nurse.jo", "POST", 303),
        ("nurse.jo", "GET", 200),
        ("clerk.sam", "GET", 200),
    }
    assert {r.resource_type for r in rows} == {"SavedFilter"}


def test_saved_filters_need_the_operator_scope(console: tuple[Engine, Any, AccessLog]) -> None:
    _, app, _ = console
    reader = tokens.bearer("user/*.rs", sub="reader")
    assert get(app, "/console/filters", headers=reader).status_code == 403
    post = request(
        app, "POST", "/console/filters", headers=reader, data={"name": "x", "query": QUERY}
    )
    assert post.status_code == 403
    assert get(app, "/console/filters", auth=False).status_code == 401
    nothing = request(
        app, "POST", "/console/filters", headers=tokens.bearer(OPERATOR), data={"name": "x"}
    )
    assert nothing.status_code == 400  # nothing to save


def test_with_a_session_cookie_saving_needs_the_csrf_token(
    console: tuple[Engine, Any, AccessLog],
) -> None:
    _, app, _ = console

    async def run() -> tuple[int, int, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
            code = mint_link(tokens.ISSUER, "nurse.jo")
            assert (await c.get("/console/signin", params={"code": code})).status_code == 303
            form = {"name": "mine", "query": QUERY}
            forged = await c.post("/console/filters", data={**form, "csrf": "forged"})
            fragment = await c.get("/console/filters", params={"current": f"/x?{QUERY}"})
            csrf = fragment.text.split('name="csrf" value="')[1].split('"')[0]
            ok = await c.post("/console/filters", data={**form, "csrf": csrf})
            listed = await c.get("/console/filters")
            return forged.status_code, ok.status_code, listed.text

    forged, ok, listed = asyncio.run(run())
    assert forged == 403
    assert ok == 303 and "mine" in listed
