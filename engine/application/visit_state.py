"""A visit's wanted state (FHIR Encounter status, class, location) as the v2 visit commands.

State-based protocols (a FHIR create or update sends the whole Encounter) say
where a visit should be, not which trigger moved it there. This compares the
wanted state with the stored visit and applies the same commands an HL7 v2
feed would have sent (A05, A01/A04, A02, A06/A07, A03, A13, A11), through the
same decision functions, so the events are the ones v2 gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine.application.commands import (
    ChangeVisit,
    PatientRef,
    StartKind,
    StartVisit,
    VisitDetails,
)
from engine.application.decisions import Decision, Session, change_visit, start_visit
from engine.domain.encounter import Encounter
from engine.domain.ids import encounter_id_for
from engine.domain.values import EncounterDetails
from engine.errors import InvalidTransitionError, ValidationError

__all__ = ["ACTIVE", "SetVisitState", "VisitStatus", "set_visit_state"]

VisitStatus = Literal["planned", "in-progress", "finished", "cancelled"]
ACTIVE = "in-progress"


@dataclass(frozen=True, slots=True)
class SetVisitState:
    """The visit should be in ``status``, with the class and location in ``visit``."""

    status: VisitStatus
    patient: PatientRef
    visit: VisitDetails


def _start_kind(visit: VisitDetails) -> StartKind:
    """An inpatient visit starts as an admit (A01), any other as a registration (A04)."""
    return "admitted" if visit.patient_class.upper() == "I" else "registered"


def set_visit_state(cmd: SetVisitState, ctx: Decision, session: Session) -> list[Any]:
    """The commands that take the stored visit to the wanted state, applied in order.

    ``session`` keeps what each command changed, so a visit started by the
    first command (a new Encounter that is already finished) is found by the next.
    Then, for a visit that existed, the participants, service and disposition
    sent are recorded as an A08 with that PV1 records them (nothing when unchanged).

    Raises:
        InvalidTransitionError: no v2 trigger leads there (e.g. finishing a planned visit).
    """
    visit = cmd.visit
    if visit.visit_number is None or not visit.visit_number.value:
        raise ValidationError("a visit number (Encounter.identifier) is required")
    found: Encounter | None = session.load(encounter_id_for(visit.visit_number, ctx.source_id))
    changed = _to_state(cmd, ctx, session, found)
    if found is None or visit.details == EncounterDetails():
        return changed
    update = ChangeVisit("update-details", cmd.patient, visit)
    return session.keep(change_visit(update, ctx, session.load)) or changed


def _to_state(
    cmd: SetVisitState, ctx: Decision, session: Session, found: Encounter | None
) -> list[Any]:
    """The v2 visit triggers from ``found`` (None: a new visit) to ``cmd.status``."""
    visit = cmd.visit

    def run(command: StartVisit | ChangeVisit) -> list[Any]:
        if isinstance(command, StartVisit):
            return session.keep(start_visit(command, ctx, session.load))
        return session.keep(change_visit(command, ctx, session.load))

    if found is None:
        if cmd.status == "planned":
            return run(StartVisit("pre-admitted", cmd.patient, visit))
        changed = run(StartVisit(_start_kind(visit), cmd.patient, visit))
        if cmd.status == "finished":
            changed = run(ChangeVisit("discharge", cmd.patient, visit))
        elif cmd.status == "cancelled":
            changed = run(ChangeVisit("cancel-admission", cmd.patient, visit))
        return changed
    current = found.status
    unchanged = StartVisit("pre-admitted", cmd.patient, visit)  # a repeated A05: patient only
    if cmd.status == "planned":
        if current != "planned":
            raise InvalidTransitionError(f"a visit that is {current} cannot become planned again")
        return run(unchanged)
    if cmd.status == "finished":
        if current == "finished":
            return run(unchanged)
        if current == "planned":
            raise InvalidTransitionError("cannot discharge a visit that never started")
        return run(ChangeVisit("discharge", cmd.patient, visit))
    if cmd.status == "cancelled":
        if current == "cancelled":
            return run(unchanged)
        return run(ChangeVisit("cancel-admission", cmd.patient, visit))
    # in progress: arrival (A01/A04), reopening (A13), class change (A06/A07), transfer (A02)
    if current == "cancelled":
        raise InvalidTransitionError("a cancelled visit cannot be in progress again")
    if current == "planned":
        return run(StartVisit(_start_kind(visit), cmd.patient, visit))
    changed = []
    if current == "finished":
        changed = run(ChangeVisit("cancel-discharge", cmd.patient, visit))
    if visit.patient_class and visit.patient_class != found.patient_class:
        return run(ChangeVisit("change-class", cmd.patient, visit))
    if not visit.location.is_empty() and visit.location != found.location:
        return run(ChangeVisit("transfer", cmd.patient, visit))
    return changed or run(unchanged)
