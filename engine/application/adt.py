"""Patient administration (ADT) messages as decisions on aggregates.

Each handler reads the fields it needs from a parsed message, loads the
aggregates it touches through ``load`` and returns those it changed; the
ingestion service saves them together with the InboundMessage in one commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from uuid import UUID

from engine.domain.encounter import Encounter
from engine.domain.ids import encounter_id_for, patient_id_for
from engine.domain.patient import Patient
from engine.domain.values import Identifier, PersonName
from engine.errors import ValidationError
from engine.hl7.datatypes import read_cx, read_date, read_datetime, read_pl, read_xpn
from engine.hl7.message import Message
from engine.ports import Fault

__all__ = ["HANDLERS", "Handler", "MessageContext"]

Loader = Callable[[UUID], Any]


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What every event caused by one message shares."""

    message_id: UUID
    occurred_at: datetime
    site_timezone: tzinfo


Handler = Callable[[Message, MessageContext, Loader], list[Any]]


def _missing(segment: str, field: int, text: str, component: int = 0) -> ValidationError:
    fault = Fault(
        code=101,
        rule="REQUIRED_FIELD_MISSING",
        text=text,
        segment_id=segment,
        segment_index=_segment_index(segment),
        field=field,
        component=component,
    )
    return ValidationError(text, [fault])


def _segment_index(segment: str) -> int:
    # ADT segments the handlers read appear once; the index is their usual position.
    return {"MSH": 1, "EVN": 2, "PID": 3, "PV1": 4}.get(segment, 0)


def _identifiers(msg: Message) -> list[Identifier]:
    seps = msg.separators
    ids = [read_cx(rep, seps) for rep in msg.repetitions("PID", 3)]
    return [i for i in ids if i.value]


def primary_identifier(identifiers: list[Identifier]) -> Identifier:
    """The identifier that keys the patient: the first medical record number, else the first."""
    for identifier in identifiers:
        if identifier.type_code == "MR":
            return identifier
    return identifiers[0]


def _patient(msg: Message, ctx: MessageContext, load: Loader) -> Patient:
    """Registers the PID's patient, or records what changed about a known one."""
    if not msg.has("PID"):
        raise _missing("PID", 0, "PID segment is required")
    identifiers = _identifiers(msg)
    if not identifiers:
        raise _missing("PID", 3, "PID-3 patient identifier list is empty", component=1)
    seps = msg.separators
    name = read_xpn(msg.repetitions("PID", 5)[0], seps) if msg.field("PID", 5) else None
    birth_date = read_date(msg.get("PID", 7))
    sex = msg.get("PID", 8)
    patient_id = patient_id_for(primary_identifier(identifiers))
    existing: Patient | None = load(patient_id)
    if existing is None:
        return Patient.register(
            patient_id,
            identifiers=identifiers,
            name=name or PersonName(),
            birth_date=birth_date,
            sex=sex,
            occurred_at=ctx.occurred_at,
            source_message_id=ctx.message_id,
        )
    existing.record_demographics(
        identifiers=identifiers,
        name=name or PersonName(),
        birth_date=birth_date,
        sex=sex,
        occurred_at=ctx.occurred_at,
        source_message_id=ctx.message_id,
    )
    return existing


def _start_visit(admitted: bool) -> Handler:
    def handle(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
        patient = _patient(msg, ctx, load)
        if not msg.has("PV1"):
            raise _missing("PV1", 0, "PV1 segment is required")
        seps = msg.separators
        visit_text = msg.field("PV1", 19)
        visit_number = read_cx(visit_text, seps) if visit_text else None
        encounter_id = encounter_id_for(visit_number, ctx.message_id)
        encounter: Encounter | None = load(encounter_id)
        changed: list[Any] = [patient]
        if encounter is None:
            encounter = Encounter.start(
                encounter_id,
                admitted=admitted,
                patient_id=patient.id,
                visit_number=visit_number,
                patient_class=msg.get("PV1", 2),
                location=read_pl(msg.field("PV1", 3), seps),
                admission_type=msg.get("PV1", 4),
                started_at=read_datetime(msg.get("PV1", 44), ctx.site_timezone),
                occurred_at=ctx.occurred_at,
                source_message_id=ctx.message_id,
            )
            changed.append(encounter)
        return changed

    return handle


HANDLERS: dict[tuple[str, str], Handler] = {
    ("ADT", "A01"): _start_visit(admitted=True),
    ("ADT", "A04"): _start_visit(admitted=False),
}
"""(MSH-9.1, MSH-9.2) to the handler that applies it; anything else is rejected."""
