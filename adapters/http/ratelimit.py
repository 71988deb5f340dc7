"""Per-client request rate limits on HTTP: 429 with ``Retry-After`` over the limit.

One client hammering `/fhir/Patient?identifier=...` must not starve the
others, nor enumerate patients at line rate. Clients are keyed by the token's
subject when the access layer has set a principal (a service behind one NAT
address is then limited per account), else by the peer address. The limit is
a moving window from the ``limits`` library, in memory: each `carelog serve`
process limits on its own (documented in docs/tls.md). ``/health`` is exempt
so orchestrators' probes are never refused.
"""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.http.context import principal_of
from adapters.http.fhir_json import operation_outcome
from adapters.http.problem import problem

__all__ = ["RateLimitMiddleware", "RateLimiter", "client_key"]

log = structlog.get_logger(__name__)

EXEMPT_PATHS = frozenset({"/health"})


class RateLimiter:
    """The moving-window limit and its refusal count, shared by the middleware and /metrics."""

    def __init__(self, limit: str) -> None:
        """``limit`` is ``N/second|minute|hour|day`` (the ``limits`` notation), or ``off``."""
        self.item: RateLimitItem | None = None if limit == "off" else parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.refused = 0

    def retry_after(self, key: str) -> int:
        """0 when ``key`` may go on (the hit is counted), else seconds until it may."""
        if self.item is None or self._limiter.hit(self.item, key):
            return 0
        self.refused += 1
        reset_at, _ = self._limiter.get_window_stats(self.item, key)  # when one slot frees
        return max(1, math.ceil(reset_at - time.time()))

    def gauges(self) -> dict[str, float]:
        """``/metrics`` counters of this limiter."""
        return {"carelog_http_rate_limited_total": self.refused}


class RateLimitMiddleware:
    """ASGI middleware answering 429 (problem details, or OperationOutcome under /fhir)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        key = client_key(Request(scope))
        retry_after = self.limiter.retry_after(key)
        if not retry_after:
            await self.app(scope, receive, send)
            return
        log.warning("http.rate_limited", client=key, path=scope["path"], retry_after=retry_after)
        text = f"more than {self.limiter.item} requests; retry after {retry_after} s"
        if scope["path"].startswith("/fhir"):
            response: Response = operation_outcome(429, "throttled", text)
        else:
            response = problem(429, text)
        response.headers["Retry-After"] = str(retry_after)
        await response(scope, receive, send)


def client_key(request: Request) -> str:
    """The token's subject when authenticated, else the peer address."""
    principal = principal_of(request)
    if principal is not None:
        return f"sub:{principal.subject}"
    client = request.client
    return f"peer:{client.host}" if client is not None else "peer:unknown"
