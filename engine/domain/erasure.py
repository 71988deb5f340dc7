"""The Erasure aggregate: the record that a patient's data was crypto-shredded.

Erasure forgets the patient's data keys (adapters/crypto); the history keeps
its shape (every record stays, sealed, unreadable). This event says who asked,
why and which patient ids were erased, and carries no PHI: ids only. Its
field is not called ``patient_id`` on purpose: events naming a ``patient_id``
are encrypted under that patient's key, which this very erasure forgets.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from engine.domain.lean import create

__all__ = ["Erasure", "erasure_id_for"]

_NAMESPACE = UUID("5f0c1b7e-58a4-4a57-9d8e-5c2a3c6f0e18")


def erasure_id_for(patient_id: str) -> UUID:
    """The id of a patient's Erasure: one per patient, so "was it erased?" is one lookup."""
    return uuid5(_NAMESPACE, f"erasure:{UUID(patient_id)}")


class Erasure(Aggregate):
    """The erasure of one patient id (a `carelog erase` records one per id of the merged group)."""

    class Recorded(Aggregate.Created):
        """Emitted once, before the keys are forgotten (a crash in between is re-run safely)."""

        erased_patient: str
        merged_with: tuple[str, ...]
        reason: str
        requested_by: str
        occurred_at: datetime

    def __init__(
        self,
        erased_patient: str,
        merged_with: tuple[str, ...],
        reason: str,
        requested_by: str,
        occurred_at: datetime,
    ) -> None:
        self.erased_patient = erased_patient
        self.merged_with = merged_with
        self.reason = reason
        self.requested_by = requested_by
        self.occurred_at = occurred_at

    @classmethod
    def record(
        cls,
        erasure_id: UUID,
        *,
        erased_patient: str,
        merged_with: tuple[str, ...],
        reason: str,
        requested_by: str,
        occurred_at: datetime,
    ) -> Erasure:
        """Records an erasure under a fresh id."""
        return create(
            cls,
            cls.Recorded,
            erasure_id,
            erased_patient=erased_patient,
            merged_with=merged_with,
            reason=reason,
            requested_by=requested_by,
            occurred_at=occurred_at,
        )
