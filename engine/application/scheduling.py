"""Scheduling (SIU^S12-S15, S26) messages as decisions on Appointment aggregates.

The appointment is keyed by SCH-2 (filler appointment id: the scheduling
system's own) else SCH-1 (placer appointment id), with its namespace and the
sending facility (MSH-4), as a visit is keyed by PV1-19: two clinics' systems
may both number from 1. The patient is the PID's (registered or updated as any
PID does); an S13-S26 may leave PID out and then concerns the booked patient.

Conflict rules (docs/integrators.md, "Conflicts"): S13, S14, S15, S26 need the
appointment to exist (AE 204 at SCH-2, or SCH-1); a reschedule or change of
an appointment that is over (cancelled, no-show, fulfilled) is AE 207; a
repeated cancellation or no-show changes nothing (AA); an S12 for a known
appointment still open records what changed (Modified), for a closed one it
is AE 207. A message whose SCH-25 says the patient arrived (``Started``) when
the appointment was not arrived yet also starts the visit (A04's decision,
class PV1-2 else O, at the appointment's location), so the patient is in the
waiting queue as after an A04.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from engine.application.adt import (
    Handler,
    Loader,
    MessageContext,
    missing_field,
    patient_command,
    patient_id_in,
    visit_number,
)
from engine.application.commands import StartVisit, VisitDetails
from engine.application.decisions import register_patient, start_visit, survivor
from engine.domain.appointment import ARRIVED, Appointment, AppointmentDetails, status_for
from engine.domain.encounter import Encounter
from engine.domain.ids import appointment_id_for
from engine.domain.patient import Patient
from engine.errors import InvalidTransitionError, ValidationError
from engine.hl7.datatypes import read_cwe, read_datetime, read_pl
from engine.hl7.message import Message, component_of
from engine.hl7.person import read_xcn
from engine.ports import Fault

__all__ = ["HANDLERS", "appointment_details", "appointment_id", "named_aggregates"]


def _key(msg: Message) -> tuple[str, str, str, int]:
    """(placer id, filler id, the key's text, the SCH field it came from)."""
    seps = msg.separators

    def ei(field: int) -> str:
        parts = [component_of(msg.field("SCH", field), seps, n) for n in (1, 2)]
        return "^".join(parts).rstrip("^")

    placer, filler = ei(1), ei(2)
    if filler:
        return placer, filler, f"filler\x1f{filler}", 2
    return placer, filler, f"placer\x1f{placer}", 1


def appointment_id(msg: Message) -> UUID | None:
    """The appointment an SIU names (SCH-2, else SCH-1, and MSH-4); None when neither is sent."""
    if not msg.has("SCH"):
        return None
    placer, filler, key, _ = _key(msg)
    if not (placer or filler):
        return None
    return appointment_id_for(msg.field("MSH", 4), key)


def _minutes(amount: str, units: str) -> int | None:
    """A duration and its units (SCH-10/AIL-10 CE: s, min, h, d; default minutes) in minutes."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return None
    unit = units.strip().lower()
    scale = {"s": Decimal(1) / 60, "sec": Decimal(1) / 60, "h": Decimal(60), "hr": Decimal(60)}
    scale.update({"hour": Decimal(60), "d": Decimal(1440), "day": Decimal(1440)})
    return int(value * scale.get(unit, Decimal(1)))


def _first_time(
    msg: Message, places: tuple[tuple[str, int, int], ...], ctx: MessageContext
) -> datetime | None:
    for segment, field, component in places:
        value = read_datetime(msg.get(segment, field, component), ctx.site_timezone)
        if value is not None:
            return value
    return None


def appointment_details(msg: Message, ctx: MessageContext) -> AppointmentDetails:
    """What SCH, TQ1, AIS, AIL and AIP say about the slot (see AppointmentDetails)."""
    seps = msg.separators
    start = _first_time(
        msg, (("TQ1", 7, 1), ("SCH", 11, 4), ("AIL", 6, 1), ("AIP", 6, 1), ("AIS", 4, 1)), ctx
    )
    end = _first_time(msg, (("TQ1", 8, 1), ("SCH", 11, 5)), ctx)
    duration = None
    for segment, amount, units in (("SCH", 9, 10), ("AIL", 9, 10), ("AIP", 9, 10)):
        if text := msg.get(segment, amount):
            duration = _minutes(text, msg.get(segment, units))
            break
    if duration is None and start is not None and end is not None and end > start:
        duration = int((end - start).total_seconds() // 60)
    if end is None and start is not None and duration:
        end = start + timedelta(minutes=duration)
    people = tuple(
        p
        for n, seg in enumerate(msg.segments_named("AIP"), 1)
        if (p := read_xcn(seg[3] if len(seg) > 3 else "", seps, msg.get("AIP", 4, occurrence=n)))
        and (p.id or p.family)
    )
    services = tuple(
        c
        for seg in msg.segments_named("AIS")
        if (c := read_cwe(seg[3] if len(seg) > 3 else "", seps)).code or c.text
    )
    reason = read_cwe(msg.field("SCH", 7), seps)
    if not (reason.code or reason.text):
        reason = read_cwe(msg.field("SCH", 6), seps)
    kind = read_cwe(msg.field("SCH", 8), seps)
    return AppointmentDetails(
        start=start,
        end=end,
        duration_minutes=duration,
        location=read_pl(msg.field("AIL", 3), seps),
        resources=people,
        services=services,
        reason=reason if reason.code or reason.text else None,
        appointment_type=kind if kind.code or kind.text else None,
        filler_status=msg.get("SCH", 25),
    )


def _fault(
    msg: Message, code: int, rule: str, text: str, field: int, segment: str = "SCH"
) -> ValidationError:
    fault = Fault(code, rule, text, segment, msg.position(segment), field)
    return ValidationError(text, [fault])


def _no_start(msg: Message, text: str) -> ValidationError:
    """101 at where the version carries the start: TQ1-7 from 2.5, SCH-11 (its TQ-4) before."""
    segment, field = ("SCH", 11) if msg.version < "2.5" else ("TQ1", 7)
    where = "SCH-11.4" if segment == "SCH" else "TQ1-7"
    return _fault(msg, 101, "REQUIRED_FIELD_MISSING", f"{text} ({where})", field, segment)


def _patient(msg: Message, ctx: MessageContext, load: Loader) -> Patient | None:
    """The PID's patient (registered or updated), None when the message has no PID."""
    if not msg.has("PID"):
        return None
    return register_patient(patient_command(msg, ctx.site_timezone), ctx, load)


def _arrival_visit(
    msg: Message, ctx: MessageContext, load: Loader, appointment: Appointment, patient: Patient
) -> list[Any]:
    """The visit an SIU arrival starts: A04's decision at the appointment's location."""
    location = read_pl(msg.field("PV1", 3), msg.separators)
    if location.is_empty():
        location = appointment.details.location
    details = VisitDetails(
        visit_number=visit_number(msg) if msg.has("PV1") else None,
        patient_class=msg.get("PV1", 2) or "O",
        location=location,
    )

    def lend(aggregate_id: UUID) -> Any:  # the patient this message already changed
        return patient if aggregate_id == patient.id else load(aggregate_id)

    return start_visit(StartVisit("registered", patient.id, details), ctx, lend)


def _handle(trigger: str) -> Handler:
    """The handler of one SIU trigger (they differ only in what they do to a known one)."""

    def handle(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
        if not msg.has("SCH"):
            raise missing_field(msg, "SCH", 0, "SCH segment is required")
        aid = appointment_id(msg)
        placer, filler, _, key_field = _key(msg)
        if aid is None:
            raise _fault(
                msg,
                101,
                "REQUIRED_FIELD_MISSING",
                "SCH-2 filler (or SCH-1 placer) appointment id is required",
                2,
            )
        details = appointment_details(msg, ctx)
        appointment: Appointment | None = load(aid)
        if appointment is None and trigger != "S12":
            shown = filler or placer
            raise _fault(msg, 204, "UNKNOWN_KEY", f"appointment {shown!r} is not known", key_field)
        patient = _patient(msg, ctx, load)
        if appointment is None:
            if patient is None:
                raise missing_field(
                    msg, "PID", 3, "a new appointment (S12) needs its patient (PID)"
                )
            if details.start is None:
                raise _no_start(msg, "a new appointment (S12) needs its start time")
            booked = Appointment.book(
                aid,
                patient_id=patient.id,
                placer_id=placer,
                filler_id=filler,
                details=details,
                occurred_at=ctx.occurred_at,
                source_message_id=ctx.message_id,
            )
            return [patient, booked, *_arrived(msg, ctx, load, booked, patient, was="")]
        owner = _owner(appointment, load)
        if patient is not None and patient.id != owner.id:
            raise _fault(
                msg,
                207,
                "INVALID_TRANSITION",
                "the appointment id belongs to another patient's appointment",
                key_field,
            )
        was = appointment.status
        try:
            if trigger in ("S12", "S13", "S14"):
                if trigger == "S13" and details.start is None:
                    raise _no_start(msg, "a reschedule (S13) needs the new start time")
                appointment.change(
                    details,
                    rescheduled=trigger == "S13",
                    occurred_at=ctx.occurred_at,
                    source_message_id=ctx.message_id,
                )
            elif trigger == "S15":
                appointment.cancel(
                    details.reason, occurred_at=ctx.occurred_at, source_message_id=ctx.message_id
                )
            else:
                appointment.no_show(occurred_at=ctx.occurred_at, source_message_id=ctx.message_id)
        except InvalidTransitionError as e:
            raise _fault(msg, 207, "INVALID_TRANSITION", str(e), key_field) from e
        changed: list[Any] = [appointment]
        if patient is not None:
            changed.insert(0, patient)
        return [*changed, *_arrived(msg, ctx, load, appointment, owner, was=was)]

    return handle


def _owner(appointment: Appointment, load: Loader) -> Patient:
    """The booked patient, followed to its survivor when merged since."""
    patient: Patient | None = load(appointment.patient_id)
    if patient is None:  # pragma: no cover - an appointment is booked with its patient
        raise InvalidTransitionError("the appointment's patient is not known")
    return survivor(patient, load)


def _arrived(
    msg: Message,
    ctx: MessageContext,
    load: Loader,
    appointment: Appointment,
    patient: Patient,
    *,
    was: str,
) -> list[Any]:
    """The visit an arrival status starts (once: not when it was arrived already)."""
    if was == ARRIVED or status_for(msg.get("SCH", 25), "") != ARRIVED:
        return []
    changed = _arrival_visit(msg, ctx, load, appointment, patient)
    visits = [a for a in changed if isinstance(a, Encounter)]
    for visit in visits:
        appointment.arrive(visit.id, occurred_at=ctx.occurred_at, source_message_id=ctx.message_id)
    return visits  # the caller returns the patient and the appointment


def named_aggregates(msg: Message) -> list[UUID]:
    """The appointment and patient an SIU names: what ingestion may read ahead."""
    return [i for i in (appointment_id(msg), patient_id_in(msg, "PID", 3)) if i is not None]


HANDLERS: dict[tuple[str, str], Handler] = {
    ("SIU", trigger): _handle(trigger) for trigger in ("S12", "S13", "S14", "S15", "S26")
}
"""(MSH-9.1, MSH-9.2) to the handler that applies it."""
