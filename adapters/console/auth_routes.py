"""The console's OpenID Connect sign-in routes and sign-out (policy rows in policy.py).

``/console/oidc/start`` and ``/console/oidc/callback`` exist only with an
external issuer and a client id (``CARELOG_CONSOLE_OIDC_CLIENT_ID``); the
checks are ``OidcClient``'s (adapters/console/oidc.py). Sign-out ends either
kind of session: an OIDC session is dropped, a link session's token is
refused from then on.

The callback answers a small page that moves on to the messages by itself
rather than a redirect: the browser arrives from the issuer's site, and a
SameSite=Strict cookie set in that cross-site chain is not sent on its next
hop; a navigation started by our own page is same-site, so it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from adapters.console.oidc import STATE_COOKIE, ConsoleSessions, OidcClient, OidcError
from adapters.console.session import COOKIE, csrf_ok, session_cookie_of

__all__ = ["auth_router"]

log = structlog.get_logger(__name__)
_TEMPLATES = Path(__file__).parent / "templates"


def auth_router(
    sessions: ConsoleSessions, oidc: OidcClient | None, session_ttl_s: int
) -> APIRouter:
    """Sign-out always; the OIDC start and callback when ``oidc`` is configured."""
    router = APIRouter(prefix="/console")
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))

    def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(csrf="", who="", **context)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    @router.post("/signout")
    async def sign_out(request: Request) -> Response:
        session = session_cookie_of(request.scope)
        body = await request.body()
        sent = dict(parse_qsl(body[: 16 << 10].decode("utf-8", "replace"))).get("csrf", "")
        if not csrf_ok(session, sent or request.headers.get("x-csrf-token", "")):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")
        sessions.close(session, expires_at=0)
        response = page("signin.html", error="", signed_out=True, oidc=oidc is not None)
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    if oidc is None:
        return router

    @router.get("/oidc/start")
    async def start(request: Request) -> Response:
        try:
            url, state = await run_in_threadpool(oidc.begin)
        except OidcError as e:
            return page("signin.html", e.status, error=str(e), oidc=True)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=600,
            path="/console/oidc",
            httponly=True,
            samesite="lax",  # must come back on the issuer's top-level redirect
            secure=request.url.scheme == "https",
        )
        return response

    @router.get("/oidc/callback")
    async def callback(
        request: Request, state: str = "", code: str = "", error: str = ""
    ) -> Response:
        try:
            principal = await run_in_threadpool(
                lambda: oidc.finish(
                    state=state,
                    cookie_state=request.cookies.get(STATE_COOKIE, ""),
                    code=code,
                    error=error,
                )
            )
        except OidcError as e:
            log.info("console.oidc_refused", reason=str(e))
            response = page("signin.html", e.status, error=str(e), oidc=True)
            response.delete_cookie(STATE_COOKIE, path="/console/oidc")
            return response
        session = sessions.open(principal, session_ttl_s)
        log.info("console.oidc_signed_in", subject=principal.subject)
        response = page("signed_in.html", next="/console/messages")
        response.delete_cookie(STATE_COOKIE, path="/console/oidc")
        response.set_cookie(
            COOKIE,
            session,
            max_age=session_ttl_s,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    return router
