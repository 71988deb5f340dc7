"""``GET /api/patients/{id}/history[?as_of=TIME]``: a patient's event history, for auditors.

Each event comes with its source message id (and the message's header);
events of patients merged into this one are included and say so in
``merged_from``. ``id`` is carelog's patient id (a UUID) or an identifier
``AUTHORITY|VALUE`` (``HOSP|123456``), resolved to the patient holding it now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.context import touched
from adapters.http.problem import problem
from projections.history.view import HistoryEvent, HistoryView
from projections.patients.view import PatientView
from projections.timestamps import parse_time

__all__ = ["event_json", "history_router", "resolve_patient"]


def resolve_patient(views: Mapping[str, Any], text: str) -> str | None:
    """The patient id ``text`` names (a UUID, or ``AUTHORITY|VALUE``), None when unknown."""
    history: HistoryView = views["history"]
    patients: PatientView = views["patients"]
    try:
        patient_id = str(UUID(text))
    except ValueError:
        authority, sep, value = text.rpartition("|")
        if not sep or not value:
            return None
        records = patients.find_by_identifier(value, authority or None)
        if len(records) != 1:
            return None
        return records[0].patient_id
    if history.known(patient_id) or patients.get_patient(patient_id) is not None:
        return patient_id
    return None


def event_json(event: HistoryEvent) -> dict[str, Any]:
    """One history line as JSON."""
    e = event.entry
    message = event.message
    return {
        "position": e.notification_id,
        "type": e.event_type,
        "aggregate_id": e.aggregate_id,
        "aggregate_version": e.aggregate_version,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "source_message_id": e.source_message_id or None,
        "summary": e.summary,
        "merged_from": event.merged_from or None,
        "source_message": None
        if message is None
        else {
            "message_id": message.message_id,
            "control_id": message.control_id,
            "message_type": message.message_type,
            "sending_application": message.sending_application,
            "sending_facility": message.sending_facility,
        },
    }


def history_router(views: Mapping[str, Any], site_timezone: tzinfo = UTC) -> APIRouter:
    """The history route over the ``history`` and ``patients`` read models."""
    router = APIRouter()

    @router.get("/api/patients/{patient_id}/history")
    def patient_history(
        request: Request, patient_id: str, as_of: str | None = None
    ) -> JSONResponse:
        history: HistoryView | None = views.get("history")
        if history is None or "patients" not in views:  # an app built without them
            return problem(503, "the patient history read model is not available")
        when: datetime | None = None
        if as_of is not None:
            try:
                when = parse_time(as_of, site_timezone)
            except ValueError:
                return problem(400, f"as_of: expected an ISO 8601 date or time, got {as_of!r}")
        resolved = resolve_patient(views, patient_id)
        if resolved is None:
            return problem(404, f"patient {patient_id} is not known")
        touched(request, resolved)
        events = history.history(resolved, when)
        return JSONResponse(
            {
                "patient_id": resolved,
                "as_of": when.isoformat() if when else None,
                "merged_into": history.merged_into(resolved) or None,
                "events": [event_json(e) for e in events],
            }
        )

    return router
