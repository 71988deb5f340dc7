"""Saved filters on the console's messages page: save the current search under a name.

The messages page loads the fragment ``GET /console/filters`` (htmx, on
load); it lists the operator's filters as links and offers to save the
search the page shows (htmx sends the page's address as ``HX-Current-URL``).
Filters are stored per operator (the principal's subject) as SavedFilters
events: encrypted at rest and sealed like the rest of the store, since a
filter may name an MRN or a visit number (engine/domain/saved_filters.py).
Saving and removing run on the single writer; both need the CSRF token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from adapters.console.session import csrf_ok, csrf_token, session_cookie_of
from adapters.fhir.routes import FhirWrites
from adapters.http.context import principal_of, touched
from engine.domain.saved_filters import SavedFilters, saved_filters_id

__all__ = ["FILTER_FIELDS", "filters_router", "normalised_query"]

FILTER_FIELDS = (
    "key_kind",
    "key_value",
    "message_type",
    "sender",
    "ack_code",
    "control_id",
    "hours",
)
"""The messages page's search parameters, the only ones a saved filter keeps."""

_TEMPLATES = Path(__file__).parent / "templates"


def normalised_query(text: str) -> str:
    """``text`` (a query string) with only the search's non-empty fields, in a fixed order."""
    given = dict(parse_qsl(text.lstrip("?"), keep_blank_values=False))
    if not given.get("key_value"):
        given.pop("key_kind", None)  # a key kind without a value searches nothing
    if given.get("hours") == "0":
        given.pop("hours")
    return urlencode(
        [(k, given[k].strip()[:200]) for k in FILTER_FIELDS if given.get(k, "").strip()]
    )


def filters_router(writes: FhirWrites) -> APIRouter:
    """The saved-filter routes over the store ``writes`` writes to (the single writer)."""
    router = APIRouter(prefix="/console")
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
    ingestion = writes.ingestion

    def owner(request: Request) -> str:
        principal = principal_of(request)
        if principal is None:  # the access layer lets no one here without one
            raise HTTPException(401, "sign in first")
        return principal.subject

    def stored(subject: str) -> dict[str, str]:
        found = ingestion.current(saved_filters_id(subject))
        return dict(found.filters) if isinstance(found, SavedFilters) else {}

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > 16 << 10:
            raise HTTPException(413, "form too large")
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        session = session_cookie_of(request.scope)
        bearer_only = request.headers.get("authorization") and not session
        sent = fields.get("csrf", "") or request.headers.get("x-csrf-token", "")
        if not bearer_only and not csrf_ok(session, sent):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")
        return fields

    async def change(subject: str, apply: Any) -> None:
        def run() -> None:
            filters = ingestion.current(saved_filters_id(subject))
            if not isinstance(filters, SavedFilters):
                filters = SavedFilters.start(subject)
            apply(filters)
            if filters.pending_events:  # nothing new: nothing written
                ingestion.save(filters)

        await writes.submit(run)
        writes.on_saved()

    @router.get("/filters")
    def listing(request: Request, current: str = "") -> HTMLResponse:
        subject = owner(request)
        touched(request)
        page = current or request.headers.get("hx-current-url", "")
        query = normalised_query(urlsplit(page).query)
        session = session_cookie_of(request.scope)
        html = env.get_template("saved_filters.html").render(
            filters=sorted(stored(subject).items()),
            query=query,
            csrf=csrf_token(session) if session else "",
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @router.post("/filters")
    async def save(request: Request) -> Response:
        subject = owner(request)
        fields = await form(request)
        name = " ".join(fields.get("name", "").split())[:60]
        query = normalised_query(fields.get("query", ""))
        if not name:
            raise HTTPException(400, "give the filter a name")
        if not query:
            raise HTTPException(400, "nothing to save: search for something first")
        try:
            await change(subject, lambda f: f.save(name, query))
        except ValueError as e:
            raise HTTPException(400, str(e)) from e
        touched(request)
        return RedirectResponse(f"/console/messages?{query}", status_code=303)

    @router.post("/filters/delete")
    async def remove(request: Request) -> Response:
        subject = owner(request)
        fields = await form(request)
        name = fields.get("name", "")
        await change(subject, lambda f: f.remove(name))
        touched(request)
        return RedirectResponse("/console/messages", status_code=303)

    return router
