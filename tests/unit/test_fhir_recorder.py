"""The recorder behind the session-end reference validation (tests/fhir_validation.py)
keeps each distinct FHIR body a test receives, and nothing else."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.fhir_validation import RECORDER, Recorder

PATIENT = {"resourceType": "Patient", "id": "p1"}


def _patient(request: Request) -> Response:
    return JSONResponse(PATIENT, media_type="application/fhir+json")


def _plain(request: Request) -> Response:
    return JSONResponse({"entries": []})


def _page(request: Request) -> Response:
    return HTMLResponse("<p>console</p>")


APP = Starlette(
    routes=[Route("/fhir/Patient/p1", _patient), Route("/api", _plain), Route("/page", _page)]
)


def test_fhir_bodies_are_kept_once_with_the_test_and_request(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    session = pytestconfig.stash.get(RECORDER, None)
    if session is not None:  # this test's bodies are not the app's: the session keeps none
        session.unpatch()
    recorder = Recorder(tmp_path, enabled=False)
    recorder.patch()
    recorder.current = "tests/unit/test_fhir_recorder.py::here"
    try:
        transport = httpx.ASGITransport(app=APP)

        async def calls() -> None:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                for path in ("/fhir/Patient/p1", "/fhir/Patient/p1", "/api", "/page"):
                    assert (await c.get(path)).status_code == 200

        asyncio.run(calls())
    finally:
        recorder.unpatch()
        if session is not None:
            session.patch()
    assert recorder.count == 2  # both FHIR answers were seen, the same body kept once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00001-Patient.json"]
    assert json.loads((tmp_path / "00001-Patient.json").read_text()) == PATIENT
    assert recorder.index["00001-Patient.json"] == {
        "test": "tests/unit/test_fhir_recorder.py::here",
        "request": "GET http://t/fhir/Patient/p1",
        "status": "200",
    }
    recorder.validate()  # disabled: writes the index, runs nothing, fails nothing
    assert not recorder.failed() and (tmp_path / "index.json").exists()
