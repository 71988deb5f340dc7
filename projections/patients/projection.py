"""Patient events to patient index rows: one handler per event, one view call each.

Handlers read only the event and write only through the view: no clock, no
repository, no network, so a replay from position 0 rebuilds the same rows.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.domain.patient import Patient
from engine.domain.values import PatientDetails
from projections.dispatch import DispatchingProjection, handles
from projections.patients.view import PatientView
from projections.texts import id_text

__all__ = ["PatientProjection"]


class PatientProjection(DispatchingProjection[PatientView]):
    """Maintains ``patients_v1``; bump the suffix to rebuild beside the old tables."""

    name = "patients_v1"
    topics = (
        get_topic(Patient.Registered),
        get_topic(Patient.DemographicsUpdated),
        get_topic(Patient.IdentifierAdded),
        get_topic(Patient.Merged),
        get_topic(Patient.Absorbed),
    )

    @handles(Patient.Registered)
    def _registered(self, event: Patient.Registered, tracking: Tracking) -> None:
        self.view.register_patient(
            id_text(event.originator_id),
            tuple(event.identifiers),
            event.name,
            event.birth_date,
            event.sex,
            event.occurred_at,
            tracking,
            details=event.details,
        )

    @handles(Patient.DemographicsUpdated)
    def _demographics(self, event: Patient.DemographicsUpdated, tracking: Tracking) -> None:
        self.view.update_demographics(
            id_text(event.originator_id),
            event.name,
            event.birth_date,
            event.sex,
            event.occurred_at,
            tracking,
            # A version 1 update (upcast: empty details) left the details as they were;
            # an update that deleted every detail (``cleared``) leaves none.
            details=event.details if event.details != PatientDetails() or event.cleared else None,
        )

    @handles(Patient.IdentifierAdded)
    def _identifier(self, event: Patient.IdentifierAdded, tracking: Tracking) -> None:
        self.view.add_identifier(
            id_text(event.originator_id), event.identifier, tracking, event.occurred_at
        )

    @handles(Patient.Absorbed)
    def _absorbed(self, event: Patient.Absorbed, tracking: Tracking) -> None:
        self.view.absorb(
            id_text(event.originator_id),
            id_text(event.retired_id),
            tuple(event.identifiers),
            event.occurred_at,
            tracking,
        )

    @handles(Patient.Merged)
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.mark_merged(
            id_text(event.originator_id), id_text(event.survivor_id), event.occurred_at, tracking
        )
