"""Errors under /api answer RFC 7807 problem details; under /fhir an OperationOutcome."""

from __future__ import annotations

from typing import Any

from adapters.http.app import create_app
from projections.patients import MemoryPatientView
from tests import tokens
from tests.asgi import get


def _app() -> Any:
    return create_app(
        {"patients": MemoryPatientView()}, health=lambda: {"ready": True}, access=tokens.access()
    )


def test_unknown_api_path_is_a_problem_document() -> None:
    response = get(_app(), "/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["status"], body["title"], body["type"]) == (404, "Not Found", "about:blank")


def test_unknown_fhir_path_stays_an_operation_outcome() -> None:
    response = get(_app(), "/fhir/Nothing/1")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
