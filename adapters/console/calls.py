"""The board's call action: ``POST /console/board/{location}/call`` (operator scope, CSRF).

Staff call the next patient (or the one whose row they chose) into a room; the
call is the same command as ``POST /api/queue/{location}/call`` (``place_call``).
htmx posts it and shows the answer in the board's status line; without
JavaScript the form posts and the browser is sent back to the board. The board
and the waiting-room display pick the call up over their event stream.
Also here: the "being seen" rows both screens show (``called_rows``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from adapters.console.pages import initials, ticket_of
from adapters.console.session import csrf_ok, session_cookie_of
from adapters.fhir.routes import FhirWrites
from adapters.http.calls import CallRefused, place_call
from adapters.http.context import principal_of, touched

__all__ = ["CalledRow", "call_router", "called_rows"]


@dataclass(frozen=True, slots=True)
class CalledRow:
    """A patient being seen after a call; ``name`` is empty on the waiting-room display."""

    ticket: str
    name: str
    initials: str
    room: str
    since_minutes: int


def called_rows(
    views: dict[str, Any], location: str, at: datetime, display: bool
) -> list[CalledRow]:
    """Who was called from ``location`` and is being seen, most recent call first."""
    patients = views["patients"]
    rows = []
    for entry in reversed(views["queue"].being_seen(location, at)):
        record = patients.get_patient(entry.patient_id)
        family = record.name.family if record else ""
        given = record.name.given if record else ""
        rows.append(
            CalledRow(
                ticket=ticket_of(entry.encounter_id),
                name="" if display else f"{family}, {given}".strip(", "),
                initials=initials(family, given),
                room=entry.room,
                since_minutes=int(entry.seen_seconds // 60),
            )
        )
    return rows


def call_router(
    views: dict[str, Any], writes: FhirWrites, env: Callable[[], Environment]
) -> APIRouter:
    """The call action over ``views["queue"]``, writing through ``writes``."""
    router = APIRouter()  # included in the console router (prefix /console)

    @router.post("/board/{location}/call")
    async def call(request: Request, location: str) -> Response:
        form = await _form(request)
        session = session_cookie_of(request.scope)
        bearer_only = request.headers.get("authorization") and not session
        sent = form.get("csrf", "") or request.headers.get("x-csrf-token", "")
        if not bearer_only and not csrf_ok(session, sent):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")
        principal = principal_of(request)
        htmx = request.headers.get("hx-request") == "true"
        try:
            placed = await place_call(
                views["queue"],
                writes,
                location=location,
                room=form.get("room", ""),
                called_by=principal.subject if principal else "unknown",
                channel="console",
                encounter_id=form.get("encounter_id", ""),
            )
        except CallRefused as e:
            if not htmx:
                raise HTTPException(e.status, e.detail) from e
            html = env().get_template("call_status.html").render(error=e.detail)
            return HTMLResponse(html, status_code=200)  # shown in the status line
        touched(request, placed.patient_id)
        if not htmx:
            return RedirectResponse(f"/console/board/{quote(location, safe='')}", status_code=303)
        record = views["patients"].get_patient(placed.patient_id)
        name = f"{record.name.family}, {record.name.given}".strip(", ") if record else ""
        html = (
            env()
            .get_template("call_status.html")
            .render(error="", ticket=ticket_of(placed.encounter_id), name=name, room=placed.room)
        )
        return HTMLResponse(html)

    return router


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form of a call (a few fields), at most 4 KiB."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    body = await request.body()
    if len(body) > 4096:
        raise HTTPException(413, "form too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
