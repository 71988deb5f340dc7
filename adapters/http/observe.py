"""One access line and one metrics count per HTTP request, by route template.

Labels and log fields carry the route's template (``/fhir/Patient/{patient_id}``),
never the raw path or the query string: both can hold identifiers of patients
(an MRN in a search, an id in a read). The principal is named by its subject,
as the access log does. The outermost middleware, so refusals (401/403/429
inside) are counted as well.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from starlette.routing import Router, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.access import route_table
from adapters.metrics import Metrics
from adapters.security.principal import Principal

__all__ = ["UNMATCHED", "ObserveMiddleware"]

log = structlog.get_logger("carelog.http")

UNMATCHED = "(unmatched)"  # a path no route serves: its text is not a label
# A client may send any method name: the others are one label value, not one each.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObserveMiddleware:
    """Counts each answer in ``metrics`` and logs ``http.request`` for it."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router
        self._table: list[tuple[str, frozenset[str], re.Pattern[str]]] | None = None

    def template_of(self, method: str, path: str) -> str:
        """The template of the route serving ``method path`` (as the router picks), or UNMATCHED.

        A path that only another method's route matches is named by that route (405).
        """
        if self._table is None:  # built on first use: every route is added by then
            self._table = [
                (p, methods, compile_path(p)[0]) for p, methods in route_table(self.router)
            ]
        partial = UNMATCHED
        for template, methods, regex in self._table:
            if regex.match(path):
                if method in methods or (method == "HEAD" and "GET" in methods):
                    return template
                if partial == UNMATCHED:
                    partial = template
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # what a request that raises before answering is counted as

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            duration = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = self.template_of(method, scope["path"])
            self.metrics.observe_http(method, route, status[0], duration)
            log.info(
                "http.request",
                method=method,
                route=route,
                status=status[0],
                duration_ms=round(duration * 1000, 2),
                principal=_subject(scope),
            )


def _subject(scope: Scope) -> str | None:
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    return principal.subject if isinstance(principal, Principal) else None
