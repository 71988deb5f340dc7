"""``GET /api/audit``: the access log, for auditors (``carelog/audit.read``).

Filters: ``patient`` (carelog patient id), ``subject`` (a token's ``sub``),
``since`` / ``until`` (ISO 8601, read as the history's ``as_of``: a time
without offset is in the site's zone, a date alone means the end of that
day), ``limit`` (1 to 1000, default 100). Newest first.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from adapters.http.problem import problem
from projections.access import AccessLogQuery, AccessLogView, AccessRow
from projections.rebuild import parse_time

__all__ = ["audit_router"]


def _row_json(row: AccessRow) -> dict[str, Any]:
    return {
        "position": row.position,
        "id": row.record_id,
        "at": row.at.isoformat(),
        "subject": row.subject,
        "client_id": row.client_id or None,
        "token_id": row.token_id or None,
        "interaction": row.interaction,
        "resource_type": row.resource_type or None,
        "method": row.method,
        "path": row.path,
        "query": row.query or None,
        "patient_id": row.patient_id or None,
        "outcome": row.outcome,
        "peer": row.peer or None,
    }


def audit_router(view: AccessLogView, site_timezone: tzinfo) -> APIRouter:
    """The access-log route over ``view``."""
    router = APIRouter()

    @router.get("/api/audit")
    def access_log(
        patient: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
    ) -> JSONResponse:
        if not 1 <= limit <= 1000:
            return problem(400, f"limit must be 1 to 1000, got {limit}")
        times = {}
        for name, text in (("since", since), ("until", until)):
            if text is not None:
                try:
                    times[name] = parse_time(text, site_timezone)
                except ValueError:
                    return problem(400, f"{name}: expected an ISO 8601 date or time, got {text!r}")
        query = AccessLogQuery(patient, subject, times.get("since"), times.get("until"), limit)
        rows = view.search(query)
        return JSONResponse({"count": len(rows), "records": [_row_json(r) for r in rows]})

    return router
