"""The LabReport aggregate: one order's results (HL7 ORU^R01 OBR with its OBX)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from engine.domain.lean import create
from engine.domain.values import Coded, ObservationValue

__all__ = ["LabReport"]


class LabReport(Aggregate):
    """Results for one order (filler order number, OBR-3), as they arrive and change."""

    class Reported(Aggregate.Created):
        """Emitted when results for an order first arrive."""

        patient_id: UUID
        encounter_id: UUID | None
        order_number: str
        service: Coded
        status: str
        observed_at: datetime | None
        observations: Sequence[ObservationValue]
        occurred_at: datetime
        source_message_id: UUID

    class Updated(Aggregate.Event):
        """Emitted when later results for the order arrive (preliminary to final, corrected)."""

        status: str
        observations: Sequence[ObservationValue]
        occurred_at: datetime
        source_message_id: UUID

    def __init__(
        self,
        patient_id: UUID,
        encounter_id: UUID | None,
        order_number: str,
        service: Coded,
        status: str,
        observed_at: datetime | None,
        observations: Sequence[ObservationValue],
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.patient_id = patient_id
        self.encounter_id = encounter_id
        self.order_number = order_number
        self.service = service
        self.status = status
        self.observed_at = observed_at
        self.observations = tuple(observations)

    @classmethod
    def report(
        cls,
        report_id: UUID,
        *,
        patient_id: UUID,
        encounter_id: UUID | None,
        order_number: str,
        service: Coded,
        status: str,
        observed_at: datetime | None,
        observations: Sequence[ObservationValue],
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> LabReport:
        """The first results for an order."""
        return create(
            cls,
            cls.Reported,
            report_id,
            patient_id=patient_id,
            encounter_id=encounter_id,
            order_number=order_number,
            service=service,
            status=status,
            observed_at=observed_at,
            observations=tuple(observations),
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )

    def update(
        self,
        *,
        status: str,
        observations: Sequence[ObservationValue],
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        """Later results replace the ones with the same OBX-3 code; unchanged ones stay."""
        if status == self.status and tuple(observations) == self.observations:
            return
        self._updated(status, tuple(observations), occurred_at, source_message_id)

    @event(Updated)
    def _updated(
        self,
        status: str,
        observations: Sequence[ObservationValue],
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.status = status
        by_code = {(o.code.code, o.code.system, o.set_id): o for o in self.observations}
        for o in observations:
            by_code[(o.code.code, o.code.system, o.set_id)] = o
        self.observations = tuple(by_code.values())
