"""The one decision path: commands in, changed aggregates out, for every protocol.

Each function loads what it needs through ``load``, checks before it changes
anything, and returns the aggregates it changed (their pending events are
what gets saved). The HL7 v2 handlers and the FHIR translator both call these,
so the same content gives the same events whichever protocol carried it.

Conflict rules (README, "Conflicts"): a change to a visit needs that visit to
exist (UnknownVisitError) and to be in a state the change fits
(InvalidTransitionError); an update for an unknown patient registers it; a
retired (merged) patient's identifiers name the surviving record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid5

from engine.application.commands import (
    ChangeVisit,
    PatientRef,
    RegisterPatient,
    ReportResults,
    StartVisit,
)
from engine.domain.encounter import Encounter
from engine.domain.ids import CARELOG_NAMESPACE, encounter_id_for
from engine.domain.patient import Patient
from engine.domain.report import LabReport
from engine.errors import (
    InvalidTransitionError,
    UnknownPatientError,
    UnknownVisitError,
    ValidationError,
)

__all__ = [
    "Decision",
    "Loader",
    "Session",
    "Source",
    "change_visit",
    "record_results",
    "register_patient",
    "report_id_for",
    "resolve_patient",
    "start_visit",
    "survivor",
]

Loader = Callable[[UUID], Any]


class Decision(Protocol):
    """What every event one received source causes shares: its id and when it happened."""

    @property
    def source_id(self) -> UUID: ...

    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Source:
    """A Decision for writes that carry no site time zone (FHIR: times carry offsets)."""

    source_id: UUID
    occurred_at: datetime


def report_id_for(order_number: str) -> UUID:
    """The LabReport an order number keys (OBR-3 filler, else OBR-2 placer)."""
    return uuid5(CARELOG_NAMESPACE, f"report\x1f{order_number}")


def survivor(patient: Patient, load: Loader) -> Patient:
    """Follows merges to the record that survives (chains are followed to their end)."""
    seen = {patient.id}
    while patient.merged_into is not None:
        found: Patient | None = load(patient.merged_into)
        if found is None or found.id in seen:
            raise InvalidTransitionError("the patient's merge history is broken")
        seen.add(found.id)
        patient = found
    return patient


def register_patient(cmd: RegisterPatient, ctx: Decision, load: Loader) -> Patient:
    """Registers the patient, or records what changed about a known one (A08, A31, PID)."""
    patient_id = cmd.patient_id
    existing: Patient | None = load(patient_id)
    if existing is not None and existing.merged_into is not None:
        existing = survivor(existing, load)  # a retired MRN names the surviving patient
    if existing is None:
        return Patient.register(
            patient_id,
            identifiers=cmd.identifiers,
            name=cmd.name,
            birth_date=cmd.birth_date,
            sex=cmd.sex,
            occurred_at=ctx.occurred_at,
            source_message_id=ctx.source_id,
            details=cmd.details,
        )
    existing.record_demographics(
        identifiers=cmd.identifiers,
        name=cmd.name,
        birth_date=cmd.birth_date,
        sex=cmd.sex,
        occurred_at=ctx.occurred_at,
        source_message_id=ctx.source_id,
        details=cmd.details,
        cleared=cmd.cleared,
    )
    return existing


def resolve_patient(ref: PatientRef, ctx: Decision, load: Loader) -> Patient:
    """The patient a visit or result is about: registered/updated from a description, or
    an existing record (its survivor when merged).

    Raises:
        UnknownPatientError: ``ref`` is an id no record has.
    """
    if isinstance(ref, RegisterPatient):
        return register_patient(ref, ctx, load)
    found: Patient | None = load(ref)
    if found is None:
        raise UnknownPatientError(f"patient {ref} is not known")
    return survivor(found, load)


_KINDS: dict[str, type[Encounter.Started]] = {
    "admitted": Encounter.Admitted,
    "registered": Encounter.Registered,
    "pre-admitted": Encounter.PreAdmitted,
}


def start_visit(cmd: StartVisit, ctx: Decision, load: Loader) -> list[Any]:
    """A01, A04, A05: a new visit, or the arrival of a pre-admitted one."""
    kind = _KINDS[cmd.kind]
    visit = cmd.visit
    encounter_id = encounter_id_for(visit.visit_number, ctx.source_id)
    patient = resolve_patient(cmd.patient, ctx, load)
    encounter: Encounter | None = load(encounter_id)
    if encounter is None:
        encounter = Encounter.start(
            encounter_id,
            kind=kind,
            patient_id=patient.id,
            visit_number=visit.visit_number,
            patient_class=visit.patient_class,
            location=visit.location,
            admission_type=visit.admission_type,
            priority=visit.priority,
            started_at=visit.started_at,
            occurred_at=ctx.occurred_at,
            source_message_id=ctx.source_id,
            details=visit.details,
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
                source_message_id=ctx.source_id,
                details=visit.details,
                cleared=visit.cleared,
            )
    return [patient, encounter]


def _same_patient(encounter: Encounter, patient: Patient) -> None:
    if encounter.patient_id != patient.id:
        raise InvalidTransitionError("the visit number belongs to another patient's visit")


def change_visit(cmd: ChangeVisit, ctx: Decision, load: Loader) -> list[Any]:
    """A02, A03, A06, A07, A11, A12, A13 and A08's PV1: find the visit, check it is the
    patient's, act.

    Raises:
        UnknownVisitError: no visit has that number.
        InvalidTransitionError: the visit is in a state the change does not fit.
    """
    visit = cmd.visit
    if visit.visit_number is None or not visit.visit_number.value:
        raise ValidationError("a visit number is required to find the visit")
    encounter: Encounter | None = load(encounter_id_for(visit.visit_number, ctx.source_id))
    if encounter is None:
        raise UnknownVisitError(f"visit {visit.visit_number.value!r} is not known")
    patient = resolve_patient(cmd.patient, ctx, load)
    _same_patient(encounter, patient)
    at, source = ctx.occurred_at, ctx.source_id
    match cmd.action:
        case "transfer":
            if visit.location.is_empty():
                raise ValidationError("a transfer needs the location the patient goes to")
            encounter.transfer(location=visit.location, occurred_at=at, source_message_id=source)
        case "cancel-transfer":
            # In A12, PV1-3 is where the patient was before the transfer being cancelled.
            encounter.cancel_transfer(
                location=visit.location, occurred_at=at, source_message_id=source
            )
        case "discharge":
            encounter.discharge(
                discharged_at=visit.discharged_at,
                occurred_at=at,
                source_message_id=source,
                disposition=visit.details.disposition,
            )
        case "cancel-discharge":
            encounter.cancel_discharge(occurred_at=at, source_message_id=source)
        case "cancel-admission":
            encounter.cancel_admission(occurred_at=at, source_message_id=source)
        case "change-class":
            encounter.change_class(
                patient_class=visit.patient_class,
                location=visit.location,
                occurred_at=at,
                source_message_id=source,
                started_at=visit.started_at,
                details=visit.details,
                cleared=visit.cleared,
            )
        case "update-details":
            encounter.update_details(
                details=visit.details,
                cleared=visit.cleared,
                occurred_at=at,
                source_message_id=source,
            )
    return [patient, encounter]


def record_results(cmd: ReportResults, ctx: Decision, load: Loader) -> list[Any]:
    """ORU^R01 / Observation: a LabReport per order, created or updated."""
    patient = resolve_patient(cmd.patient, ctx, load)
    changed: list[Any] = [patient]
    for result in cmd.results:
        report_id = report_id_for(result.order_number)
        report: LabReport | None = load(report_id)
        if report is None:
            report = LabReport.report(
                report_id,
                patient_id=patient.id,
                encounter_id=cmd.encounter_id,
                order_number=result.order_number,
                service=result.service,
                status=result.status,
                observed_at=result.observed_at,
                observations=result.observations,
                occurred_at=ctx.occurred_at,
                source_message_id=ctx.source_id,
            )
        else:
            report.update(
                status=result.status,
                observations=result.observations,
                occurred_at=ctx.occurred_at,
                source_message_id=ctx.source_id,
            )
        changed.append(report)
    return changed


class Session:
    """The aggregates one received source decides on: each loaded once, changes kept together.

    Several decisions in one source (a FHIR Bundle's entries) must see each
    other's changes: the second entry that names a patient gets the object the
    first one registered or changed, not a fresh copy from the store.
    ``reset`` forgets everything decided so far (a batch entry that failed is
    left out and the others decided again from the store's state).
    """

    def __init__(self, base: Loader) -> None:
        self._base = base
        self._aggregates: dict[UUID, Any] = {}

    def load(self, aggregate_id: UUID) -> Any:
        """The aggregate as decided so far in this session, else as stored; None if absent."""
        found = self._aggregates.get(aggregate_id)
        if found is None:
            found = self._base(aggregate_id)
            if found is not None:
                self._aggregates[aggregate_id] = found
        return found

    def keep(self, aggregates: list[Any]) -> list[Any]:
        """Remembers aggregates a decision returned (new ones included); returns them."""
        for aggregate in aggregates:
            self._aggregates.setdefault(aggregate.id, aggregate)
        return aggregates

    def get(self, aggregate_id: UUID) -> Any:
        """An aggregate this session loaded or kept, None otherwise."""
        return self._aggregates.get(aggregate_id)

    def loaded(self) -> list[Any]:
        """Every aggregate this session loaded or kept."""
        return list(self._aggregates.values())

    def reset(self) -> None:
        """Forgets every aggregate (and so every pending change) of this session."""
        self._aggregates.clear()

    def pending(self) -> list[Any]:
        """The aggregates with changes to save, in the order first loaded or kept."""
        return [a for a in self._aggregates.values() if a.pending_events]
