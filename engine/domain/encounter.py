"""The Encounter aggregate: one visit of a patient (HL7 PV1), from arrival to discharge."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from engine.domain.values import Identifier, Location

__all__ = ["Encounter"]


class Encounter(Aggregate):
    """A visit, keyed by its visit number (PV1-19) when the feed sends one."""

    class Admitted(Aggregate.Created):
        """Emitted for an admit (ADT^A01): the patient is now an inpatient at ``location``."""

        patient_id: UUID
        visit_number: Identifier | None
        patient_class: str
        location: Location
        admission_type: str
        started_at: datetime | None
        occurred_at: datetime
        source_message_id: UUID

    class Registered(Aggregate.Created):
        """Emitted for a registration (ADT^A04): outpatient or emergency arrival."""

        patient_id: UUID
        visit_number: Identifier | None
        patient_class: str
        location: Location
        admission_type: str
        started_at: datetime | None
        occurred_at: datetime
        source_message_id: UUID

    def __init__(
        self,
        patient_id: UUID,
        visit_number: Identifier | None,
        patient_class: str,
        location: Location,
        admission_type: str,
        started_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.patient_id = patient_id
        self.visit_number = visit_number
        self.patient_class = patient_class
        self.location = location
        self.admission_type = admission_type
        self.started_at = started_at or occurred_at
        self.status = "in-progress"

    @classmethod
    def start(
        cls,
        encounter_id: UUID,
        *,
        admitted: bool,
        patient_id: UUID,
        visit_number: Identifier | None,
        patient_class: str,
        location: Location,
        admission_type: str,
        started_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> Encounter:
        """A new visit: ``admitted`` for an inpatient admission, else a registration."""
        return cls._create(
            cls.Admitted if admitted else cls.Registered,
            id=encounter_id,
            patient_id=patient_id,
            visit_number=visit_number,
            patient_class=patient_class,
            location=location,
            admission_type=admission_type,
            started_at=started_at,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )
