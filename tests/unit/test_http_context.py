"""The request-scoped names shared by the access layer and the route handlers."""

from __future__ import annotations

from fastapi import FastAPI, Request

from adapters.http.context import principal_of, sender_of, touched, touched_patients
from adapters.security import Principal
from tests.asgi import get


def _app(principal: Principal | None) -> FastAPI:
    app = FastAPI()

    @app.get("/probe")
    def probe(request: Request) -> dict[str, object]:
        if principal is not None:
            request.state.principal = principal
        touched(request, "p1", "p2")
        touched(request, "p1", "", "p3")
        found = principal_of(request)
        return {
            "sender": sender_of(request),
            "patients": list(touched_patients(request)),
            "subject": found.subject if found else None,
        }

    return app


def test_without_principal_the_sender_is_the_peer_and_patients_keep_first_order() -> None:
    body = get(_app(None), "/probe").json()
    assert body["sender"].startswith("peer:")
    assert body["subject"] is None
    assert body["patients"] == ["p1", "p2", "p3"]


def test_with_principal_the_sender_is_its_subject() -> None:
    principal = Principal("alice", scopes=frozenset({"user/*.cruds"}))
    body = get(_app(principal), "/probe").json()
    assert body == {"sender": "alice", "patients": ["p1", "p2", "p3"], "subject": "alice"}
