"""Patient administration (ADT) messages as decisions on aggregates.

Each handler reads the fields it needs from a parsed message, loads the
aggregates it touches through ``load`` and returns those it changed; the
ingestion service saves them with the InboundMessage in one commit. Handlers
check what they need before they change anything.

Conflict rules (README, "Conflicts"): a trigger that names a visit (A02, A03,
A06, A07, A11, A12, A13) needs that visit to exist (AE 204 otherwise) and to be
in a state the trigger fits (AE 207 otherwise); A08/A31 for an unknown patient
register it; messages apply in arrival order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, cast
from uuid import UUID

from engine.domain.encounter import Encounter
from engine.domain.ids import encounter_id_for, patient_id_for
from engine.domain.patient import Patient
from engine.domain.values import Identifier, Location, PersonName
from engine.errors import (
    InvalidTransitionError,
    UnknownPatientError,
    UnknownVisitError,
    ValidationError,
)
from engine.hl7.datatypes import read_cx, read_date, read_datetime, read_pl, read_xpn
from engine.hl7.message import Message
from engine.ports import Fault

__all__ = [
    "HANDLERS",
    "Handler",
    "Loader",
    "MessageContext",
    "identifiers_in",
    "missing_field",
    "patient_from_pid",
    "patient_id_in",
    "primary_identifier",
    "visit_id",
    "visit_number",
]

Loader = Callable[[UUID], Any]


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What every event caused by one message shares."""

    message_id: UUID
    occurred_at: datetime
    site_timezone: tzinfo


Handler = Callable[[Message, MessageContext, Loader], list[Any]]


def missing_field(
    msg: Message, segment: str, field: int, text: str, component: int = 0
) -> ValidationError:
    fault = Fault(
        code=101,
        rule="REQUIRED_FIELD_MISSING",
        text=text,
        segment_id=segment,
        segment_index=msg.position(segment),
        field=field,
        component=component,
    )
    return ValidationError(text, [fault])


def identifiers_in(msg: Message, segment: str, field: int) -> tuple[Identifier, ...]:
    """The non-empty CX identifiers a field lists (PID-3, MRG-1), read once per message.

    Ingestion reads them before deciding (to fetch the aggregates they name) and
    the handler reads them again; the message remembers them (an immutable tuple).
    """
    key = ("cx", segment, field)
    found = msg.memo.get(key)
    if found is None:
        seps = msg.separators
        found = msg.memo[key] = tuple(
            i for i in (read_cx(r, seps) for r in msg.repetitions(segment, field)) if i.value
        )
    return cast(tuple[Identifier, ...], found)  # memo[key] is only ever set above


def patient_id_in(msg: Message, segment: str, field: int) -> UUID | None:
    """The id of the patient a field's identifiers name (its primary one), None if none."""
    key = ("patient", segment, field)
    if key not in msg.memo:
        identifiers = identifiers_in(msg, segment, field)
        msg.memo[key] = patient_id_for(primary_identifier(identifiers)) if identifiers else None
    return cast(UUID | None, msg.memo[key])  # memo[key] is only ever set above


def visit_number(msg: Message) -> Identifier | None:
    """PV1-19 as an Identifier (None when the field is empty), read once per message."""
    if "visit" not in msg.memo:
        text = msg.field("PV1", 19)
        msg.memo["visit"] = read_cx(text, msg.separators) if text else None
    return cast(Identifier | None, msg.memo["visit"])  # memo["visit"] is only set above


def primary_identifier(identifiers: Sequence[Identifier]) -> Identifier:
    """The identifier that keys the patient: the first medical record number, else the first."""
    for identifier in identifiers:
        if identifier.type_code == "MR":
            return identifier
    return identifiers[0]


def patient_from_pid(msg: Message, ctx: MessageContext, load: Loader) -> Patient:
    """Registers the PID's patient, or records what changed about a known one."""
    if not msg.has("PID"):
        raise missing_field(msg, "PID", 0, "PID segment is required")
    seps = msg.separators
    identifiers = identifiers_in(msg, "PID", 3)
    patient_id = patient_id_in(msg, "PID", 3)
    if not identifiers or patient_id is None:
        raise missing_field(msg, "PID", 3, "PID-3 patient identifier list is empty", component=1)
    names = msg.repetitions("PID", 5)
    name = read_xpn(names[0], seps) if names else PersonName()
    birth_date = read_date(msg.get("PID", 7))
    sex = msg.get("PID", 8)
    existing: Patient | None = load(patient_id)
    if existing is not None and existing.merged_into is not None:
        existing = _survivor(existing, load)  # a retired MRN names the surviving patient
    if existing is None:
        return Patient.register(
            patient_id,
            identifiers=identifiers,
            name=name,
            birth_date=birth_date,
            sex=sex,
            occurred_at=ctx.occurred_at,
            source_message_id=ctx.message_id,
        )
    existing.record_demographics(
        identifiers=identifiers,
        name=name,
        birth_date=birth_date,
        sex=sex,
        occurred_at=ctx.occurred_at,
        source_message_id=ctx.message_id,
    )
    return existing


def _survivor(patient: Patient, load: Loader) -> Patient:
    """Follows merges to the record that survives (chains are followed to their end)."""
    seen = {patient.id}
    while patient.merged_into is not None:
        survivor: Patient | None = load(patient.merged_into)
        if survivor is None or survivor.id in seen:
            raise InvalidTransitionError("the patient's merge history is broken")
        seen.add(survivor.id)
        patient = survivor
    return patient


def _merge(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
    """A40: the MRG patient is retired into the PID patient, who takes its identifiers."""
    if not msg.has("MRG"):
        raise missing_field(msg, "MRG", 0, "MRG segment is required in a merge")
    retired_ids = identifiers_in(msg, "MRG", 1)
    retired_id = patient_id_in(msg, "MRG", 1)
    if not retired_ids or retired_id is None:
        raise missing_field(msg, "MRG", 1, "MRG-1 prior patient identifier list is empty", 1)
    retired: Patient | None = load(retired_id)
    if retired is None:
        raise UnknownPatientError(f"the patient to merge ({retired_ids[0].value!r}) is not known")
    survivor = patient_from_pid(msg, ctx, load)
    if retired.merged_into == survivor.id:
        return [survivor]  # merged before: nothing to do
    retired.merge_into(survivor.id, ctx.occurred_at, ctx.message_id)
    survivor.add_identifiers([*retired.identifiers, *retired_ids], ctx.occurred_at, ctx.message_id)
    return [retired, survivor]


@dataclass(frozen=True, slots=True)
class _Visit:
    """The PV1/PV2 fields the visit handlers read."""

    number: Identifier | None
    encounter_id: UUID
    patient_class: str
    location: Location
    admission_type: str
    priority: str
    started_at: datetime | None
    discharged_at: datetime | None
    segment_index: int  # of PV1, for ERR-2


def _visit(msg: Message, ctx: MessageContext) -> _Visit:
    if not msg.has("PV1"):
        raise missing_field(msg, "PV1", 0, "PV1 segment is required")
    seps = msg.separators
    number = visit_number(msg)
    return _Visit(
        number=number,
        encounter_id=encounter_id_for(number, ctx.message_id),
        patient_class=msg.get("PV1", 2),
        location=read_pl(msg.field("PV1", 3), seps),
        admission_type=msg.get("PV1", 4),
        priority=msg.get("PV2", 25),
        started_at=read_datetime(msg.get("PV1", 44), ctx.site_timezone),
        discharged_at=read_datetime(msg.get("PV1", 45), ctx.site_timezone),
        segment_index=msg.position("PV1"),
    )


def visit_id(msg: Message) -> UUID | None:
    """The encounter a message's PV1-19 names, when it names one (results, charges)."""
    number = visit_number(msg)
    if number is None or not number.value:
        return None
    return encounter_id_for(number, UUID(int=0))


def _start(kind: type[Encounter.Started]) -> Handler:
    """A01, A04, A05: a new visit, or the arrival of a pre-admitted one."""

    def handle(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
        visit = _visit(msg, ctx)
        patient = patient_from_pid(msg, ctx, load)
        encounter: Encounter | None = load(visit.encounter_id)
        if encounter is None:
            encounter = Encounter.start(
                visit.encounter_id,
                kind=kind,
                patient_id=patient.id,
                visit_number=visit.number,
                patient_class=visit.patient_class,
                location=visit.location,
                admission_type=visit.admission_type,
                priority=visit.priority,
                started_at=visit.started_at,
                occurred_at=ctx.occurred_at,
                source_message_id=ctx.message_id,
            )
        else:
            _same_patient(encounter, patient)
            if kind is not Encounter.PreAdmitted:
                encounter.arrive(
                    admitted=kind is Encounter.Admitted,
                    patient_class=visit.patient_class,
                    location=visit.location,
                    started_at=visit.started_at,
                    occurred_at=ctx.occurred_at,
                    source_message_id=ctx.message_id,
                )
        return [patient, encounter]

    return handle


def _same_patient(encounter: Encounter, patient: Patient) -> None:
    if encounter.patient_id != patient.id:
        raise InvalidTransitionError("the visit number belongs to another patient's visit")


def _on_visit(action: Callable[[Encounter, _Visit, MessageContext], None]) -> Handler:
    """A trigger that changes an existing visit: find it, check it is the patient's, act."""

    def handle(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
        visit = _visit(msg, ctx)
        if visit.number is None:
            raise missing_field(msg, "PV1", 19, "PV1-19 visit number is required to find the visit")
        encounter: Encounter | None = load(visit.encounter_id)
        if encounter is None:
            raise UnknownVisitError(f"visit {visit.number.value!r} is not known")
        patient = patient_from_pid(msg, ctx, load)
        _same_patient(encounter, patient)
        action(encounter, visit, ctx)
        return [patient, encounter]

    return handle


def _update_patient(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
    """A08, A31: the patient's demographics; an unknown patient is registered."""
    return [patient_from_pid(msg, ctx, load)]


def _transfer(e: Encounter, v: _Visit, ctx: MessageContext) -> None:
    if v.location.is_empty():
        text = "PV1-3 assigned location is required: it is where the patient goes"
        fault = Fault(101, "REQUIRED_FIELD_MISSING", text, "PV1", v.segment_index, 3, component=1)
        raise ValidationError(text, [fault])
    e.transfer(location=v.location, occurred_at=ctx.occurred_at, source_message_id=ctx.message_id)


def _cancel_transfer(e: Encounter, v: _Visit, ctx: MessageContext) -> None:
    # In A12, PV1-3 is where the patient was before the transfer being cancelled.
    e.cancel_transfer(
        location=v.location, occurred_at=ctx.occurred_at, source_message_id=ctx.message_id
    )


def _discharge(e: Encounter, v: _Visit, ctx: MessageContext) -> None:
    e.discharge(
        discharged_at=v.discharged_at, occurred_at=ctx.occurred_at, source_message_id=ctx.message_id
    )


def _cancel_discharge(e: Encounter, v: _Visit, ctx: MessageContext) -> None:
    e.cancel_discharge(occurred_at=ctx.occurred_at, source_message_id=ctx.message_id)


def _cancel_admission(e: Encounter, v: _Visit, ctx: MessageContext) -> None:
    e.cancel_admission(occurred_at=ctx.occurred_at, source_message_id=ctx.message_id)


def _change_class(default_class: str) -> Callable[[Encounter, _Visit, MessageContext], None]:
    def action(e: Encounter, v: _Visit, ctx: MessageContext) -> None:
        e.change_class(
            patient_class=v.patient_class or default_class,
            location=v.location,
            occurred_at=ctx.occurred_at,
            source_message_id=ctx.message_id,
        )

    return action


HANDLERS: dict[tuple[str, str], Handler] = {
    ("ADT", "A01"): _start(Encounter.Admitted),
    ("ADT", "A02"): _on_visit(_transfer),
    ("ADT", "A03"): _on_visit(_discharge),
    ("ADT", "A04"): _start(Encounter.Registered),
    ("ADT", "A05"): _start(Encounter.PreAdmitted),
    ("ADT", "A06"): _on_visit(_change_class("I")),
    ("ADT", "A07"): _on_visit(_change_class("O")),
    ("ADT", "A08"): _update_patient,
    ("ADT", "A11"): _on_visit(_cancel_admission),
    ("ADT", "A12"): _on_visit(_cancel_transfer),
    ("ADT", "A13"): _on_visit(_cancel_discharge),
    ("ADT", "A31"): _update_patient,
    ("ADT", "A40"): _merge,
}
"""(MSH-9.1, MSH-9.2) to the handler that applies it; anything else is rejected."""
