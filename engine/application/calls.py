"""Calling a waiting patient: the command, its decision, and the source it is recorded with.

A call is staff saying "the patient waiting at this point of care, please
come to room 3": it changes the visit (``Encounter.Called``), so it is
recorded like any other write, with a received source (the request as JSON,
who sent it) that the event names. Which patient is "next" is a question for
the queue read model, so the HTTP adapter picks the visit and this command
names it; the visit itself refuses a call that no longer fits (moved away,
finished, or called twice with nothing in between).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from engine.application.decisions import Decision, Session
from engine.application.sources import ReceivedSource
from engine.domain.encounter import Encounter
from engine.errors import InvalidTransitionError, UnknownVisitError

__all__ = ["CALL_KIND", "MAX_ROOM", "CallPatient", "call_patient", "call_source", "check_room"]

CALL_KIND = "queue call"
MAX_ROOM = 40


def check_room(room: str) -> str:
    """The room as it will be recorded (trimmed).

    Raises:
        ValueError: empty, longer than ``MAX_ROOM`` or with control characters.
    """
    text = room.strip()
    if not text or len(text) > MAX_ROOM:
        raise ValueError(f"room must be 1 to {MAX_ROOM} characters")
    if any(ch < " " or ch == "\x7f" for ch in text):
        raise ValueError("room must not contain control characters")
    return text


@dataclass(frozen=True, slots=True)
class CallPatient:
    """Call the patient of ``encounter_id``, waiting at ``location``, into ``room``."""

    encounter_id: UUID
    location: str
    room: str
    called_by: str


def call_patient(cmd: CallPatient, ctx: Decision, session: Session) -> Encounter:
    """The called visit (its pending ``Called`` event is what gets saved).

    Raises:
        UnknownVisitError: no such visit.
        InvalidTransitionError: the visit is not at ``location`` (it moved since the
            board was drawn), not in progress, or was just called.
    """
    visit = session.load(cmd.encounter_id)
    if not isinstance(visit, Encounter):
        raise UnknownVisitError(f"no visit {cmd.encounter_id}")
    here = visit.location.point_of_care
    if here != cmd.location:
        raise InvalidTransitionError(f"the visit is at {here or 'no location'}, not {cmd.location}")
    visit.call(
        room=check_room(cmd.room),
        called_by=cmd.called_by,
        occurred_at=ctx.occurred_at,
        source_message_id=ctx.source_id,
    )
    return visit


def call_source(cmd: CallPatient, channel: str) -> ReceivedSource:
    """The received source a call is stored with: what was asked, by whom, over what."""
    body = {
        "location": cmd.location,
        "encounter_id": str(cmd.encounter_id),
        "room": cmd.room,
        "called_by": cmd.called_by,
    }
    raw = json.dumps(body, sort_keys=True).encode()
    return ReceivedSource.of(
        raw, kind=CALL_KIND, version="1", sender=cmd.called_by, channel=channel
    )
