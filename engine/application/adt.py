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

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, cast
from uuid import UUID

from engine.application.commands import (
    ChangeVisit,
    RegisterPatient,
    StartKind,
    StartVisit,
    VisitAction,
    VisitDetails,
    primary_identifier,
)
from engine.application.decisions import change_visit, register_patient, start_visit
from engine.domain.ids import encounter_id_for, patient_id_for
from engine.domain.patient import Patient
from engine.domain.values import (
    Address,
    Coded,
    EncounterDetails,
    Identifier,
    PatientDetails,
    PersonName,
)
from engine.errors import UnknownPatientError, ValidationError
from engine.hl7.datatypes import read_cwe, read_cx, read_date, read_datetime, read_pl, read_xpn
from engine.hl7.message import Message
from engine.hl7.person import read_xad, read_xcn, read_xtn
from engine.ports import Fault

__all__ = [
    "HANDLERS",
    "Handler",
    "Loader",
    "MessageContext",
    "identifiers_in",
    "missing_field",
    "patient_command",
    "patient_from_pid",
    "patient_id_in",
    "primary_identifier",
    "visit_details",
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

    @property
    def source_id(self) -> UUID:
        """The received source the events point at (decisions.Decision)."""
        return self.message_id


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


def patient_command(msg: Message, site_timezone: tzinfo = UTC) -> RegisterPatient:
    """The PID as a RegisterPatient command (PID-3, PID-5, PID-7, PID-8 and ``_details``)."""
    if not msg.has("PID"):
        raise missing_field(msg, "PID", 0, "PID segment is required")
    seps = msg.separators
    identifiers = identifiers_in(msg, "PID", 3)
    if not identifiers:
        raise missing_field(msg, "PID", 3, "PID-3 patient identifier list is empty", component=1)
    repetitions = msg.repetitions("PID", 5)
    names = [read_xpn(n, seps) for n in repetitions if n != NULL]
    names = [n for n in names if n != PersonName()]
    cleared = tuple(c for c, field in _PID_CLEARABLE if msg.field("PID", field) == NULL)
    if NULL in repetitions[1:]:
        cleared = ("other_names", *cleared)
    return RegisterPatient(
        identifiers=identifiers,
        name=names[0] if names else PersonName(),
        birth_date=read_date(_value(msg, "PID", 7)),
        sex=_value(msg, "PID", 8),
        details=_details(msg, names[1:], site_timezone),
        cleared=cleared,
    )


NULL = '""'
"""HL7's explicit null: in an update, the receiver deletes the value (empty: unchanged)."""

# The PID fields whose HL7 null deletes a value, and the name events record it by
# (birth_date, sex, then engine.domain.values.PATIENT_CLEARABLE). PID-5 is read above:
# a null repetition after the first deletes the other names (the first is the
# patient's name, which PID requires).
_PID_CLEARABLE = (
    ("birth_date", 7),
    ("sex", 8),
    ("addresses", 11),
    ("home_telecom", 13),
    ("business_telecom", 14),
    ("language", 15),
    ("marital_status", 16),
    ("multiple_birth", 24),
    ("birth_order", 25),
    ("deceased_at", 29),
    ("deceased", 30),
)


def _details(msg: Message, other_names: list[PersonName], tz: tzinfo) -> PatientDetails:
    """PID-5 after the first, PID-11, 13/14, 15, 16, 24/25, 29/30 (v2-to-FHIR IG PID map)."""
    seps = msg.separators
    addresses = tuple(
        a for a in (read_xad(r, seps) for r in _sent(msg, "PID", 11)) if a != Address()
    )
    telecom = tuple(
        t
        for field, use in ((13, "PRN"), (14, "WPN"))
        for t in (read_xtn(r, seps, use) for r in _sent(msg, "PID", field))
        if t.value
    )
    return PatientDetails(
        other_names=tuple(other_names),
        addresses=addresses,
        telecom=telecom,
        deceased=_value(msg, "PID", 30).upper(),
        deceased_at=read_datetime(_value(msg, "PID", 29), tz),
        language=_coded(msg, "PID", 15),
        marital_status=_coded(msg, "PID", 16),
        multiple_birth=_value(msg, "PID", 24).upper(),
        birth_order=_value(msg, "PID", 25),
    )


def _sent(msg: Message, segment: str, field: int) -> list[str]:
    """A field's repetitions, none when it is HL7's null (a deletion, not a value)."""
    return [r for r in msg.repetitions(segment, field) if r != NULL]


def _value(msg: Message, segment: str, field: int) -> str:
    """A field's first value, empty when it is HL7's null (a deletion, not a value)."""
    value = msg.get(segment, field)
    return "" if value == NULL else value


def _coded(msg: Message, segment: str, field: int) -> Coded | None:
    """A CWE/CE field's first repetition, None when it has no code (or is HL7's null)."""
    reps = _sent(msg, segment, field)
    coded = read_cwe(reps[0], msg.separators) if reps else None
    return coded if coded is not None and coded.code else None


def patient_from_pid(msg: Message, ctx: MessageContext, load: Loader) -> Patient:
    """Registers the PID's patient, or records what changed about a known one."""
    return register_patient(patient_command(msg, ctx.site_timezone), ctx, load)


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
    survivor.absorb(
        retired.id, [*retired.identifiers, *retired_ids], ctx.occurred_at, ctx.message_id
    )
    return [retired, survivor]


def visit_details(msg: Message, ctx: MessageContext) -> VisitDetails:
    """PV1/PV2 as the VisitDetails of a visit command."""
    if not msg.has("PV1"):
        raise missing_field(msg, "PV1", 0, "PV1 segment is required")
    seps = msg.separators
    return VisitDetails(
        visit_number=visit_number(msg),
        patient_class=msg.get("PV1", 2),
        location=read_pl(msg.field("PV1", 3), seps),
        admission_type=msg.get("PV1", 4),
        priority=msg.get("PV2", 25),
        started_at=read_datetime(msg.get("PV1", 44), ctx.site_timezone),
        discharged_at=read_datetime(msg.get("PV1", 45), ctx.site_timezone),
        details=EncounterDetails(
            participants=tuple(
                p
                for field, role in _PARTICIPANTS
                for p in (read_xcn(r, seps, role) for r in _sent(msg, "PV1", field))
                if p.id or p.family
            ),
            service=_value(msg, "PV1", 10),
            disposition=_value(msg, "PV1", 36),
        ),
        cleared=tuple(
            name
            for name, field in (
                *((f"participant:{role}", field) for field, role in _PARTICIPANTS),
                ("service", 10),
                ("disposition", 36),
            )
            if msg.field("PV1", field) == NULL
        ),
    )


# PV1 fields naming doctors, with the v3-ParticipationType code the v2-to-FHIR IG gives each.
_PARTICIPANTS = ((7, "ATND"), (8, "REF"), (9, "CON"), (17, "ADM"))


def visit_id(msg: Message) -> UUID | None:
    """The encounter a message's PV1-19 names, when it names one (results, charges)."""
    number = visit_number(msg)
    if number is None or not number.value:
        return None
    return encounter_id_for(number, UUID(int=0))


def _start(kind: StartKind) -> Handler:
    """A01, A04, A05: a new visit, or the arrival of a pre-admitted one."""

    def handle(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
        visit = visit_details(msg, ctx)
        return start_visit(
            StartVisit(kind, patient_command(msg, ctx.site_timezone), visit), ctx, load
        )

    return handle


def _on_visit(action: VisitAction, default_class: str = "") -> Handler:
    """A trigger that changes an existing visit: checks what only v2 can locate, then decides."""

    def handle(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
        visit = visit_details(msg, ctx)
        if visit.visit_number is None:
            raise missing_field(msg, "PV1", 19, "PV1-19 visit number is required to find the visit")
        if action == "change-class" and not visit.patient_class:
            visit = replace(visit, patient_class=default_class)
        patient = patient_command(msg, ctx.site_timezone)
        found = action == "transfer" and visit.location.is_empty()
        # Checked here, once the visit is known to exist, so that ERR locates PV1-3.
        if found and load(encounter_id_for(visit.visit_number, ctx.message_id)) is not None:
            text = "PV1-3 assigned location is required: it is where the patient goes"
            raise missing_field(msg, "PV1", 3, text, component=1)
        return change_visit(ChangeVisit(action, patient, visit), ctx, load)

    return handle


def _update_patient(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
    """A31: the patient's demographics; an unknown patient is registered."""
    return [patient_from_pid(msg, ctx, load)]


def _update_patient_and_visit(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
    """A08: the patient's demographics, and the visit's PV1 details when PV1-19 names a
    visit of that patient (participants, service, disposition; ``""`` deletes).

    A visit carelog does not know, or one of another patient, is left alone:
    A08 is first a patient update, and refusing it for its PV1 would lose that.
    """
    patient = patient_from_pid(msg, ctx, load)
    number = visit_number(msg) if msg.has("PV1") else None
    if number is None or not number.value:
        return [patient]
    encounter = load(encounter_id_for(number, ctx.message_id))
    if encounter is None or encounter.patient_id != patient.id:
        return [patient]
    visit = visit_details(msg, ctx)
    # What change_visit's "update-details" does (FHIR updates go that way), on the
    # patient this message has already decided on.
    encounter.update_details(
        details=visit.details,
        cleared=visit.cleared,
        occurred_at=ctx.occurred_at,
        source_message_id=ctx.source_id,
    )
    return [patient, encounter]


HANDLERS: dict[tuple[str, str], Handler] = {
    ("ADT", "A01"): _start("admitted"),
    ("ADT", "A02"): _on_visit("transfer"),
    ("ADT", "A03"): _on_visit("discharge"),
    ("ADT", "A04"): _start("registered"),
    ("ADT", "A05"): _start("pre-admitted"),
    ("ADT", "A06"): _on_visit("change-class", "I"),
    ("ADT", "A07"): _on_visit("change-class", "O"),
    ("ADT", "A08"): _update_patient_and_visit,
    ("ADT", "A11"): _on_visit("cancel-admission"),
    ("ADT", "A12"): _on_visit("cancel-transfer"),
    ("ADT", "A13"): _on_visit("cancel-discharge"),
    ("ADT", "A31"): _update_patient,
    ("ADT", "A40"): _merge,
}
"""(MSH-9.1, MSH-9.2) to the handler that applies it; anything else is rejected."""
