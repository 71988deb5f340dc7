"""`POST /api/queue/{location}/call`: call the next waiting patient (or a chosen one) to a room.

Scripts and the console (``adapters/console/calls.py``) share ``place_call``:
the queue read model says who is next, the command (engine/application/
calls.py) records ``Encounter.Called`` on the single writer, and the visit
refuses a call that no longer fits (409). The board and the waiting-room
display then show the patient as "being seen" once the queue projection has
the event (they follow it over server-sent events).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.fhir.routes import FhirWrites
from adapters.http.context import principal_of, touched
from adapters.http.problem import problem
from engine.application.calls import CallPatient, call_patient, call_source, check_room
from engine.domain.encounter import Encounter
from engine.errors import ConcurrencyError, DomainError, UnknownVisitError
from projections.queue.view import QueueView

__all__ = ["CallRefused", "Placed", "calls_router", "place_call"]

_MAX_BODY = 4096


class CallRefused(Exception):
    """A call that cannot be made: ``status`` (400, 404, 409) and why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Placed:
    """A recorded call: which visit, which patient, where to, when, by whom."""

    location: str
    encounter_id: str
    patient_id: str
    visit_number: str
    room: str
    called_at: datetime
    called_by: str


async def place_call(
    queue: QueueView,
    writes: FhirWrites,
    *,
    location: str,
    room: str,
    called_by: str,
    channel: str,
    encounter_id: str = "",
) -> Placed:
    """Calls ``encounter_id`` (else the first one waiting at ``location``) into ``room``.

    Raises:
        CallRefused: a bad room or id (400), nobody waiting there (404), the visit
            not waiting there or already called (409).
    """
    try:
        room = check_room(room)
    except ValueError as e:
        raise CallRefused(400, str(e)) from e
    waiting = queue.queued(location)
    if encounter_id:
        try:
            chosen = UUID(encounter_id)
        except ValueError as e:
            raise CallRefused(400, f"encounter_id is not a visit id: {encounter_id!r}") from e
        if not any(v.encounter_id == str(chosen) for v in waiting):
            raise CallRefused(409, f"visit {chosen} is not waiting at {location}")
    elif waiting:
        chosen = UUID(waiting[0].encounter_id)
    else:
        raise CallRefused(404, f"nobody is waiting at {location}")
    cmd = CallPatient(chosen, location, room, called_by)
    source = call_source(cmd, channel)
    try:
        recorded = await writes.submit(
            lambda: writes.ingestion.record(
                source, lambda session, now: call_patient(cmd, now, session), (chosen,)
            )
        )
    except UnknownVisitError as e:
        raise CallRefused(404, str(e)) from e
    except DomainError as e:
        raise CallRefused(409, str(e)) from e
    except ConcurrencyError as e:
        raise CallRefused(409, f"{e}; call again") from e
    if recorded.events_written:
        writes.on_saved()
    visit: Encounter = recorded.session.get(chosen)
    number = visit.visit_number.value if visit.visit_number else ""
    return Placed(
        location=location,
        encounter_id=str(chosen),
        patient_id=str(visit.patient_id),
        visit_number=number,
        room=room,
        called_at=visit.called_at or datetime.now(UTC),
        called_by=called_by,
    )


def calls_router(views: Mapping[str, Any], writes: FhirWrites) -> APIRouter:
    """The call route over ``views["queue"]``, writing through ``writes`` (the single writer)."""
    router = APIRouter()
    queue: QueueView = views["queue"]

    @router.post("/api/queue/{location}/call")
    async def call(request: Request, location: str) -> JSONResponse:
        body = await request.body()
        if len(body) > _MAX_BODY:
            return problem(413, f"a call is at most {_MAX_BODY} bytes of JSON")
        try:
            asked = json.loads(body or b"{}")
        except ValueError:
            return problem(400, 'the body must be JSON: {"room": ..., "encounter_id": ...}')
        if not isinstance(asked, dict) or not isinstance(asked.get("room", ""), str):
            return problem(400, "the body must be a JSON object with a string room")
        chosen = asked.get("encounter_id") or ""
        if not isinstance(chosen, str):
            return problem(400, "encounter_id must be a string")
        principal = principal_of(request)
        try:
            placed = await place_call(
                queue,
                writes,
                location=location,
                room=asked.get("room", ""),
                called_by=principal.subject if principal else "unknown",
                channel="http",
                encounter_id=chosen,
            )
        except CallRefused as e:
            return problem(e.status, e.detail)
        touched(request, placed.patient_id)
        return JSONResponse(placed_json(placed))

    return router


def placed_json(placed: Placed) -> dict[str, Any]:
    """A recorded call as the API answers it."""
    return {
        "location": placed.location,
        "encounter_id": placed.encounter_id,
        "patient_id": placed.patient_id,
        "visit_number": placed.visit_number,
        "room": placed.room,
        "called_at": placed.called_at.isoformat(),
        "called_by": placed.called_by,
    }
