"""``GET /api/audit`` and FHIR ``GET /fhir/AuditEvent``: the access log, for auditors.

Both need ``carelog/audit.read``.

Filters: ``patient`` (carelog patient id), ``subject`` (a token's ``sub``),
``since`` / ``until`` (ISO 8601, read as the history's ``as_of``: a time
without offset is in the site's zone, a date alone means the end of that
day), ``limit`` (1 to 1000, default 100). Newest first.

``/fhir/AuditEvent`` answers the same records as FHIR R4 AuditEvents (type
``rest``, subtype the RESTful interaction, agent the token's subject with the
peer's address, entity the patient and the query) for ``patient``, ``agent``
(the subject), ``date`` (``geYYYY-MM-DD...`` / ``ltYYYY-MM-DD...``) and ``_count``.
"""

from __future__ import annotations

import base64
from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.auditevent import AuditEvent

from adapters.http.fhir_json import FhirResponse, operation_outcome
from adapters.http.fhir_output import checked, instant
from adapters.http.fhir_search import searchset, unsupported_parameters
from adapters.http.problem import problem
from projections.access import AccessLogQuery, AccessLogView, AccessRow
from projections.timestamps import parse_time

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


_ACTION = {"read": "R", "search": "E", "create": "C", "update": "U", "transaction": "E"}
_REST = "http://hl7.org/fhir/restful-interaction"
_SUBTYPE = {"read": "read", "search": "search-type", "create": "create", "update": "update",
            "transaction": "transaction"}  # fmt: skip


def audit_event(row: AccessRow) -> dict[str, Any]:
    """One access record as a FHIR R4 AuditEvent (checked in tests: fhir_output)."""
    ok = row.outcome < 400
    agent: dict[str, Any] = {
        "who": {"identifier": {"value": row.subject or "(no valid token)"}},
        "requestor": True,
    }
    if row.client_id:
        agent["altId"] = row.client_id
    if row.peer:
        agent["network"] = {"address": row.peer.rpartition(":")[0] or row.peer, "type": "2"}
    data: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": row.record_id,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                 "code": "rest"},
        "action": _ACTION.get(row.interaction, "E"),
        "recorded": instant(row.at),
        "outcome": "0" if ok else "4",
        "outcomeDesc": f"HTTP {row.outcome} {row.method} {row.path}",
        "agent": [agent],
        "source": {"observer": {"display": "carelog"}},
    }  # fmt: skip
    if row.interaction in _SUBTYPE:
        data["subtype"] = [{"system": _REST, "code": _SUBTYPE[row.interaction]}]
    entity: dict[str, Any] = {}
    if row.patient_id:
        entity["what"] = {"reference": f"Patient/{row.patient_id}"}
    if row.query:
        entity["query"] = base64.b64encode(row.query.encode()).decode()
    if row.token_id:
        entity["detail"] = [{"type": "token_id", "valueString": row.token_id}]
    if entity:
        data["entity"] = [entity]
    checked(AuditEvent, data, same=False)
    return data


def _dates(values: list[str]) -> tuple[datetime | None, datetime | None] | str:
    """``ge``/``lt`` date parameters as (since, until), or the error text."""
    since = until = None
    for value in values:
        prefix, text = value[:2], value[2:]
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return f"date: expected geYYYY-MM-DD[Thh:mm:ss+zz:zz] or lt..., got {value!r}"
        if when.tzinfo is None:
            return f"date: give a time zone (Z or +hh:mm), got {value!r}"
        if prefix == "ge":
            since = when
        elif prefix == "lt":
            until = when
        else:
            return f"date: only the ge and lt prefixes are supported, got {value!r}"
    return since, until


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

    @router.get("/fhir/AuditEvent")
    def audit_events(request: Request) -> JSONResponse:
        refusal = unsupported_parameters(request, {"patient", "agent", "date", "_count", "_format"})
        if refusal is not None:
            return refusal
        params = request.query_params
        count = params.get("_count", "100")
        if not count.isdigit() or not 1 <= int(count) <= 1000:
            return operation_outcome(400, "invalid", f"_count must be 1 to 1000, got {count!r}")
        dates = _dates(params.getlist("date"))
        if isinstance(dates, str):
            return operation_outcome(400, "invalid", dates)
        patient = params.get("patient")
        query = AccessLogQuery(
            patient.removeprefix("Patient/") if patient else None,
            params.get("agent"),
            dates[0],
            dates[1],
            int(count),
        )
        resources = [audit_event(r) for r in view.search(query)]
        return FhirResponse(searchset(request, "AuditEvent", resources))

    return router
