"""`/api/queue/{location}`: who waits where, in order, and each location's day in figures.

Reads the queue read model only. The wait so far is computed here from the
clock handed in (``now``), so the projection never reads a clock. A location
nobody has been queued at answers an empty queue (200): the read model knows
locations only from the visits it has seen, so "unknown" and "empty" cannot be
told apart, and a ward's board should show an empty list rather than an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.context import touched
from adapters.http.problem import problem
from projections.queue.view import QueueView

__all__ = ["bad_location", "queue_router", "requested_day"]

_MAX_LOCATION = 200


def queue_router(
    views: Mapping[str, Any],
    now: Callable[[], datetime],
    site_timezone: tzinfo,
) -> APIRouter:
    """The queue endpoints over ``views["queue"]``; days are in ``site_timezone``."""
    router = APIRouter()
    queue: QueueView = views["queue"]

    @router.get("/api/queue/{location}")
    def get_queue(request: Request, location: str) -> JSONResponse:
        if (bad := bad_location(location)) is not None:
            return bad
        at = now()
        entries = queue.waiting(location, at)
        touched(request, *(e.patient_id for e in entries))
        return JSONResponse(
            {
                "location": location,
                "as_of": at.isoformat(),
                "count": len(entries),
                "entries": [
                    {
                        "position": e.position,
                        "patient_id": e.patient_id,
                        "encounter_id": e.encounter_id,
                        "visit_number": e.visit_number,
                        "priority": e.priority,
                        "priority_rank": e.rank,
                        "arrived_at": e.arrived_at.isoformat(),
                        "wait_seconds": round(e.wait_seconds, 3),
                    }
                    for e in entries
                ],
            }
        )

    @router.get("/api/queue/{location}/stats")
    def get_stats(location: str, date: str | None = None) -> JSONResponse:
        if (bad := bad_location(location)) is not None:
            return bad
        day = requested_day(date, now, site_timezone)
        if isinstance(day, JSONResponse):
            return day
        stats = queue.stats(location, day, site_timezone)
        return JSONResponse(
            {
                "location": location,
                "date": stats.day.isoformat(),
                "timezone": str(site_timezone),
                "left": stats.left,
                "average_wait_seconds": _rounded(stats.average_wait_seconds),
                "p90_wait_seconds": _rounded(stats.p90_wait_seconds),
                "arrivals": stats.arrivals,
                "volume_per_hour": [
                    {"hour": h, "arrivals": n} for h, n in enumerate(stats.arrivals_per_hour)
                ],
            }
        )

    return router


def bad_location(location: str) -> JSONResponse | None:
    """A 400 problem for a point of care no queue can have, else None."""
    if not location.strip() or len(location) > _MAX_LOCATION:
        return problem(400, f"location must be 1 to {_MAX_LOCATION} characters")
    if any(ch < " " for ch in location):
        return problem(400, "location must not contain control characters")
    return None


def requested_day(
    text: str | None, now: Callable[[], datetime], site_timezone: tzinfo
) -> date | JSONResponse:
    """The ``date`` parameter as a day (today in ``site_timezone`` when absent), or a 400."""
    if text is None:
        return now().astimezone(site_timezone).date()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return problem(400, f"date must be a calendar date as YYYY-MM-DD, got {text!r}")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
