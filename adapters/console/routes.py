"""The console's routes under /console (policy rows in adapters/security/policy.py).

Pages are rendered on the server (Jinja2, autoescaped); htmx (vendored in
static/) posts the actions, and the queue board follows its queue over
server-sent events. Every page needs the ``carelog/operator`` scope (a
session cookie from a sign-in link, or a bearer token); every POST needs the
session's CSRF token when the request came with the cookie. Reprocessing runs
on the single writer, like every other write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from adapters.console.calls import call_router, called_rows
from adapters.console.pages import board_rows, fmt_time, message_page
from adapters.console.session import COOKIE, SignIn, csrf_ok, csrf_token, session_cookie_of
from adapters.fhir.routes import FhirWrites
from adapters.http.context import principal_of, touched
from adapters.reprocess import Attempt, pending_in_order, reprocess
from adapters.security.tokens import InvalidTokenError
from projections.messages import KEY_KINDS, LogFilter, MessageLogView

__all__ = ["console_router"]

_HERE = Path(__file__).parent
_STATIC = {
    "htmx.min.js": "text/javascript",
    "console.css": "text/css",
    "board.js": "text/javascript",
}
_BOARD_POLL_S = 0.5  # how often the board's stream looks at its queue (a cheap indexed read)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    env.filters["when"] = fmt_time
    return env


def console_router(
    views: dict[str, Any],
    writes: FhirWrites,
    signin: SignIn,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    site_timezone: tzinfo = UTC,
) -> APIRouter:
    """The console over ``views``, writing through ``writes`` (the single writer)."""
    router = APIRouter(prefix="/console")
    env = _environment()
    log: MessageLogView = views["messages"]
    ingestion = writes.ingestion

    def render(request: Request, template: str, **context: Any) -> HTMLResponse:
        session = session_cookie_of(request.scope)
        principal = principal_of(request)
        html = env.get_template(template).render(
            csrf=csrf_token(session) if session else "",
            who=principal.subject if principal else "",
            **context,
        )
        return HTMLResponse(html)

    def check_csrf(request: Request, sent: str) -> None:
        session = session_cookie_of(request.scope)
        if request.headers.get("authorization") and not session:
            return  # a bearer token: no ambient credential for another site to ride on
        header = request.headers.get("x-csrf-token", "")
        if not (csrf_ok(session, sent) or csrf_ok(session, header)):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")

    def who(request: Request) -> str:
        principal = principal_of(request)
        return (principal.subject if principal else "unknown").replace(":", "_")

    @router.get("/signin")
    def sign_in(request: Request, code: str = "") -> Response:
        if not code and signin.oidc:  # the external issuer's sign-in (adapters/console/oidc.py)
            return HTMLResponse(
                env.get_template("signin.html").render(oidc=True, error="", csrf="", who="")
            )
        try:
            _, session = signin.exchange(code)
        except InvalidTokenError as e:
            return HTMLResponse(
                env.get_template("signin.html").render(error=str(e), csrf="", who=""),
                status_code=401,
            )
        response = RedirectResponse("/console/messages", status_code=303)
        response.set_cookie(
            COOKIE,
            session,
            max_age=signin.session_ttl_s,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.get("")
    def home() -> RedirectResponse:
        return RedirectResponse("/console/messages", status_code=303)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        media = _STATIC.get(name)
        if media is None:
            raise HTTPException(404, "no such file")
        body = (_HERE / "static" / name).read_bytes()
        return Response(body, media_type=media, headers={"Cache-Control": "max-age=3600"})

    @router.get("/messages")
    def messages(
        request: Request,
        key_kind: str = "",
        key_value: str = "",
        message_type: str = "",
        sender: str = "",
        ack_code: str = "",
        control_id: str = "",
        hours: int = 0,
    ) -> HTMLResponse:
        if key_kind and key_kind not in KEY_KINDS:
            raise HTTPException(400, f"key_kind must be one of {', '.join(KEY_KINDS)}")
        query = LogFilter(
            since=now() - timedelta(hours=hours) if hours > 0 else None,
            message_type=message_type.strip(),
            sender=sender.strip(),
            ack_code=ack_code.strip().upper(),
            control_id=control_id.strip(),
            key_kind=key_kind if key_value.strip() else "",
            key_value=key_value.strip(),
        )
        searched = any(
            (query.message_type, query.sender, query.ack_code, query.control_id, key_value, hours)
        )
        found = log.search(query)
        return render(
            request,
            "messages.html",
            entries=found,
            query=query,
            hours=hours,
            key_kinds=KEY_KINDS,
            searched=searched,
        )

    @router.get("/messages/{entry_id}")
    def message(request: Request, entry_id: str) -> HTMLResponse:
        entry = log.entry(entry_id)
        if entry is None:
            raise HTTPException(404, "no such message in the log")
        stored = ingestion.current(UUID(entry_id))
        events, patients = (
            _events_caused(ingestion, entry.position, UUID(entry_id))
            if entry.accepted
            else ([], [])
        )
        touched(request, *patients)
        attempts = [e for e in log.search(LogFilter(limit=50)) if e.reprocess_of == entry_id]
        page = message_page(entry, stored, events)
        return render(request, "message.html", page=page, attempts=attempts)

    @router.post("/messages/{entry_id}/reprocess")
    async def reprocess_one(request: Request, entry_id: str) -> HTMLResponse:
        form = await _form(request)
        check_csrf(request, form.get("csrf", ""))
        edited = form.get("edited", "")
        asker = who(request)
        raw = edited.replace("\r\n", "\r").replace("\n", "\r").encode() if edited.strip() else None
        attempt: Attempt = await writes.submit(
            lambda: reprocess(
                entry_id,
                asker,
                load=ingestion.current,
                ingest=ingestion.ingest,
                log=log,
                edited=raw,
            )
        )
        writes.on_saved()
        return render(request, "attempt.html", attempts=[attempt])

    @router.get("/errors")
    def errors(request: Request) -> HTMLResponse:
        groups = [
            (cause, count, log.search(LogFilter(pending=True, cause=cause, limit=20)))
            for cause, count in log.causes()
        ]
        return render(request, "errors.html", groups=groups)

    @router.post("/errors/reprocess")
    async def reprocess_bulk(request: Request) -> HTMLResponse:
        form = await _form(request)
        check_csrf(request, form.get("csrf", ""))
        cause = form.get("cause", "")
        asker = who(request)
        ids = pending_in_order(log, replace(LogFilter(), cause=cause))

        def run() -> list[Attempt]:
            return [
                reprocess(i, asker, load=ingestion.current, ingest=ingestion.ingest, log=log)
                for i in ids
            ]

        attempts: list[Attempt] = await writes.submit(run)
        writes.on_saved()
        return render(request, "attempt.html", attempts=attempts)

    @router.get("/board/{location}")
    def board(request: Request, location: str, mode: str = "") -> HTMLResponse:
        display = mode == "display"
        rows = _board(views, location, now(), display)
        called = called_rows(views, location, now(), display)
        return render(
            request,
            "board.html",
            location=location,
            rows=rows,
            called=called,
            display=display,
            mode=mode,
        )

    @router.get("/board/{location}/events")
    async def board_events(request: Request, location: str, mode: str = "") -> StreamingResponse:
        display = mode == "display"
        fragment = env.get_template("board_rows.html")

        async def stream() -> AsyncIterator[bytes]:
            last = None
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                rows = await asyncio.to_thread(_board, views, location, now(), display)
                called = await asyncio.to_thread(called_rows, views, location, now(), display)
                html = fragment.render(rows=rows, called=called, display=display, location=location)
                if html != last:
                    last = html
                    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
                    yield f"event: board\n{data}\n".encode()
                await asyncio.sleep(_BOARD_POLL_S)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    router.include_router(call_router(views, writes, lambda: env))
    return router


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form (what the console's forms and htmx send), at most 1 MiB.

    Read here rather than with FastAPI's Form(), which needs python-multipart.
    """
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    body = await request.body()
    if len(body) > 1 << 20:
        raise HTTPException(413, "form too large")
    return {k: v for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)}


def _board(views: dict[str, Any], location: str, at: datetime, display: bool) -> list[Any]:
    return board_rows(views["queue"].waiting(location, at), views["patients"], display=display)


def _events_caused(ingestion: Any, position: int, message_id: UUID) -> tuple[list[str], list[str]]:
    """The events a message caused (name and aggregate), and the patients they name."""
    found: list[str] = []
    patients: list[str] = []
    notifications = ingestion.recorder.select_notifications(position + 1, 200)
    for notification in notifications:
        event = ingestion.mapper.to_domain_event(notification)
        if getattr(event, "source_message_id", None) != message_id:
            if found:
                break  # the message's events are saved together, right after it
            continue
        name = type(event).__qualname__
        found.append(f"{name} {event.originator_id}")
        patient = getattr(event, "patient_id", None)
        if patient is not None:
            patients.append(str(patient))
    return found, patients
