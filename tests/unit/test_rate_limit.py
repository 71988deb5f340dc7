"""Per-client HTTP rate limits: 429 with Retry-After, per subject or peer, /health exempt."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.types import Receive, Scope, Send

from adapters.http.ratelimit import RateLimiter, RateLimitMiddleware
from adapters.security import Principal
from tests.asgi import get


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/thing")
    def thing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ready": True}

    return app


class _AsSubject:
    """Stands in for the access layer: sets a principal before the limiter runs."""

    def __init__(self, app: Any, subject: str) -> None:
        self.app, self.subject = app, subject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["principal"] = Principal(subject=self.subject)
        await self.app(scope, receive, send)


def test_over_the_limit_answers_429_problem_with_retry_after() -> None:
    limiter = RateLimiter("2/minute")
    app = RateLimitMiddleware(_app(), limiter)
    codes = [get(app, "/api/thing").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    over = get(app, "/api/thing")
    assert over.headers["content-type"] == "application/problem+json"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.json()["status"] == 429
    assert get(app, "/health").status_code == 200  # probes are never limited
    assert limiter.gauges() == {"carelog_http_rate_limited_total": 2}


def test_clients_are_keyed_by_subject_when_authenticated() -> None:
    limiter = RateLimiter("1/minute")
    inner = RateLimitMiddleware(_app(), limiter)
    alice, bob = _AsSubject(inner, "alice"), _AsSubject(inner, "bob")
    assert get(alice, "/api/thing").status_code == 200
    assert get(bob, "/api/thing").status_code == 200  # same address, another subject
    assert get(alice, "/api/thing").status_code == 429


def test_off_disables_the_limit() -> None:
    app = RateLimitMiddleware(_app(), RateLimiter("off"))
    assert {get(app, "/api/thing").status_code for _ in range(50)} == {200}


def test_request_state_principal_is_what_the_limiter_reads() -> None:
    seen: list[str] = []
    app = _app()

    @app.get("/api/who")
    def who(request: Request) -> dict[str, str]:
        seen.append(type(request.state.principal).__name__)
        return {}

    get(_AsSubject(RateLimitMiddleware(app, RateLimiter("5/minute")), "carol"), "/api/who")
    assert seen == ["Principal"]
