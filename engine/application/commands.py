"""Protocol-neutral commands: what a sender asks carelog to record, in domain values.

HL7 v2 messages (``engine/application/adt.py``, ``results.py``) and FHIR
resources (``adapters/fhir/``) are both translated into these, and one
decision function per command (``engine/application/decisions.py``) turns
them into events. A v2 message and a FHIR write with the same content thus
give the same events by construction (STYLE 13, "One decision path").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from engine.domain.ids import patient_id_for
from engine.domain.values import (
    Coded,
    EncounterDetails,
    Identifier,
    Location,
    ObservationValue,
    PatientDetails,
    PersonName,
)

__all__ = [
    "ChangeVisit",
    "LabResult",
    "PatientRef",
    "RegisterPatient",
    "ReportResults",
    "StartKind",
    "StartVisit",
    "VisitAction",
    "VisitDetails",
    "primary_identifier",
]

StartKind = Literal["admitted", "registered", "pre-admitted"]
"""A01 / A04 / A05; FHIR in-progress (inpatient class) / in-progress (other) / planned."""

VisitAction = Literal[
    "transfer",
    "discharge",
    "cancel-transfer",
    "cancel-discharge",
    "cancel-admission",
    "change-class",
    "update-details",
]
"""A02, A03, A12, A13, A11, A06/A07; A08's PV1 (participants, service, disposition)."""


def primary_identifier(identifiers: tuple[Identifier, ...]) -> Identifier:
    """The identifier that keys the patient: the first medical record number, else the first."""
    for identifier in identifiers:
        if identifier.type_code == "MR":
            return identifier
    return identifiers[0]


@dataclass(frozen=True, slots=True)
class RegisterPatient:
    """Who the patient is (v2 PID; FHIR Patient): registers or records what changed.

    ``target`` is set when the sender named the record itself (FHIR update by
    id); otherwise the record is the one the primary identifier keys.
    Empty values mean "not sent" and change nothing; ``cleared`` deletes.
    """

    identifiers: tuple[Identifier, ...]
    name: PersonName = field(default_factory=PersonName)
    birth_date: str = ""
    sex: str = ""
    target: UUID | None = None
    details: PatientDetails = field(default_factory=PatientDetails)
    cleared: tuple[str, ...] = ()
    """Details the sender deleted (HL7 ``""``), named as in ``PATIENT_CLEARABLE``."""

    @property
    def patient_id(self) -> UUID:
        """The record this command is about (``target``, else keyed by the primary identifier)."""
        if self.target is not None:
            return self.target
        return patient_id_for(primary_identifier(self.identifiers))


PatientRef = RegisterPatient | UUID
"""A visit's or a result's patient: described in full (v2 PID) or an existing record's id."""


@dataclass(frozen=True, slots=True)
class VisitDetails:
    """What a visit command says about the visit (v2 PV1/PV2; FHIR Encounter)."""

    visit_number: Identifier | None
    patient_class: str = ""
    location: Location = field(default_factory=Location)
    admission_type: str = ""
    priority: str = ""
    started_at: datetime | None = None
    discharged_at: datetime | None = None
    details: EncounterDetails = field(default_factory=EncounterDetails)
    cleared: tuple[str, ...] = ()
    """Details the sender deleted (HL7 ``""``), named as in ``ENCOUNTER_CLEARABLE``."""


@dataclass(frozen=True, slots=True)
class StartVisit:
    """A new visit, or the arrival of a planned one (A01, A04, A05)."""

    kind: StartKind
    patient: PatientRef
    visit: VisitDetails


@dataclass(frozen=True, slots=True)
class ChangeVisit:
    """A change to an existing visit, found by its visit number (A02, A03, A06, A07, A11-A13)."""

    action: VisitAction
    patient: PatientRef
    visit: VisitDetails


@dataclass(frozen=True, slots=True)
class LabResult:
    """One order's results (v2 OBR with its OBX; FHIR Observation, one per order entry)."""

    order_number: str
    service: Coded
    status: str
    observed_at: datetime | None
    observations: tuple[ObservationValue, ...]


@dataclass(frozen=True, slots=True)
class ReportResults:
    """Results for a patient, optionally within a visit (ORU^R01; FHIR Observation)."""

    patient: PatientRef
    encounter_id: UUID | None
    results: tuple[LabResult, ...] = field(default=())
