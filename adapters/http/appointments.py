"""`/api/queue/{location}/expected`: who is booked at a point of care on a day, and who came.

Reads the appointments read model only, beside the queue routes (the queue
itself is who is waiting now; this is who is expected). A day runs midnight
to midnight in the site's time zone (``CARELOG_TIMEZONE``), as for the queue's
stats. Cancelled appointments are left out; the others carry their status
(booked, arrived, fulfilled, noshow...) and, once the patient came, the visit
that arrival started, which is then in the location's queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.context import touched
from adapters.http.queue import bad_location, requested_day
from projections.appointments.view import AppointmentRecord, AppointmentView

__all__ = ["expected_router"]


def _entry(r: AppointmentRecord) -> dict[str, Any]:
    details = json.loads(r.details or "{}")
    return {
        "appointment_id": r.appointment_id,
        "patient_id": r.patient_id,
        "status": r.status,
        "start": r.start.isoformat() if r.start else None,
        "end": r.end.isoformat() if r.end else None,
        "minutes": r.duration_minutes,
        "location": r.location_text,
        "resources": [
            " ".join(x for x in (p.get("id"), p.get("given"), p.get("family")) if x)
            for p in details.get("resources", [])
        ],
        "encounter_id": r.encounter_id or None,
        "arrived_at": r.arrived_at.isoformat() if r.arrived_at else None,
    }


def expected_router(
    views: Mapping[str, Any], now: Callable[[], datetime], site_timezone: tzinfo
) -> APIRouter:
    """The expected-list endpoint over ``views["appointments"]``."""
    router = APIRouter()
    appointments: AppointmentView = views["appointments"]

    @router.get("/api/queue/{location}/expected")
    def get_expected(request: Request, location: str, date: str | None = None) -> JSONResponse:
        if (bad := bad_location(location)) is not None:
            return bad
        day = requested_day(date, now, site_timezone)
        if isinstance(day, JSONResponse):
            return day
        start = datetime.combine(day, time(), site_timezone)
        rows = appointments.expected(location, start, start + timedelta(days=1))
        touched(request, *(r.patient_id for r in rows))
        return JSONResponse(
            {
                "location": location,
                "date": day.isoformat(),
                "timezone": str(site_timezone),
                "count": len(rows),
                "entries": [_entry(r) for r in rows],
            }
        )

    return router
