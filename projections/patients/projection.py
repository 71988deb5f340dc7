"""Patient events to patient index rows: one handler per event, one view call each.

Handlers read only the event and write only through the view: no clock, no
repository, no network, so a replay from position 0 rebuilds the same rows.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from engine.domain.patient import Patient
from projections.patients.view import PatientView

__all__ = ["PatientProjection"]


class PatientProjection(Projection[PatientView]):
    """Maintains ``patients_v1``; bump the suffix to rebuild beside the old tables."""

    name = "patients_v1"
    topics = (
        get_topic(Patient.Registered),
        get_topic(Patient.DemographicsUpdated),
        get_topic(Patient.IdentifierAdded),
        get_topic(Patient.Merged),
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        # Unknown events still move the position, so catch-up never stalls on them.
        self.view.insert_tracking(tracking)

    @process_event.register
    def _registered(self, event: Patient.Registered, tracking: Tracking) -> None:
        self.view.register_patient(
            str(event.originator_id),
            tuple(event.identifiers),
            event.name,
            event.birth_date,
            event.sex,
            event.occurred_at,
            tracking,
        )

    @process_event.register
    def _demographics(self, event: Patient.DemographicsUpdated, tracking: Tracking) -> None:
        self.view.update_demographics(
            str(event.originator_id),
            event.name,
            event.birth_date,
            event.sex,
            event.occurred_at,
            tracking,
        )

    @process_event.register
    def _identifier(self, event: Patient.IdentifierAdded, tracking: Tracking) -> None:
        self.view.add_identifier(str(event.originator_id), event.identifier, tracking)

    @process_event.register
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.mark_merged(
            str(event.originator_id), str(event.survivor_id), event.occurred_at, tracking
        )
