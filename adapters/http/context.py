"""What a request carries between the access layer and the route handlers.

The access layer (authentication) sets the principal on ``request.state``;
route handlers say which patients a request read or wrote, and the access
log records one line per patient. Handlers use these helpers rather than
``request.state`` so both sides agree on the names.
"""

from __future__ import annotations

from fastapi import Request

from adapters.security.principal import Principal

__all__ = ["principal_of", "sender_of", "touched", "touched_patients"]


def principal_of(request: Request) -> Principal | None:
    """The authenticated caller, None where no access layer ran."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def sender_of(request: Request) -> str:
    """Who sent a write, for its received-source record: the subject, else the peer address."""
    principal = principal_of(request)
    if principal is not None:
        return principal.subject
    client = request.client
    return f"peer:{client.host}:{client.port}" if client is not None else "peer:unknown"


def touched(request: Request, *patient_ids: str) -> None:
    """Notes patients this request read or wrote (by carelog patient id)."""
    found: list[str] = getattr(request.state, "patients_touched", None) or []
    for patient_id in patient_ids:
        if patient_id and patient_id not in found:
            found.append(patient_id)
    request.state.patients_touched = found


def touched_patients(request: Request) -> tuple[str, ...]:
    """The patients noted with ``touched``, in the order first noted."""
    return tuple(getattr(request.state, "patients_touched", None) or ())
