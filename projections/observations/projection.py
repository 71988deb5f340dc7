"""LabReport events to observation rows: one handler per event, one view call each.

Handlers read only the event and write only through the view (no clock, no
repository, no network), so a replay from position 0 rebuilds the same rows.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.domain.patient import Patient
from engine.domain.report import LabReport
from projections.dispatch import DispatchingProjection, handles
from projections.observations.view import ObservationView, ReportRecord
from projections.texts import id_text

__all__ = ["ObservationProjection"]


class ObservationProjection(DispatchingProjection[ObservationView]):
    """Maintains ``observations_v1``; bump the suffix to rebuild beside the old tables."""

    name = "observations_v1"
    topics = (
        get_topic(LabReport.Reported),
        get_topic(LabReport.Updated),
        get_topic(Patient.Merged),
    )

    @handles(LabReport.Reported)
    def _reported(self, event: LabReport.Reported, tracking: Tracking) -> None:
        self.view.add_report(
            ReportRecord(
                report_id=id_text(event.originator_id),
                order_number=event.order_number,
                patient_id=id_text(event.patient_id),
                encounter_id=id_text(event.encounter_id) if event.encounter_id else "",
                service=event.service,
                status=event.status,
                observed_at=event.observed_at,
            ),
            tuple(event.observations),
            event.occurred_at,
            id_text(event.source_message_id),
            tracking,
        )

    @handles(LabReport.Updated)
    def _updated(self, event: LabReport.Updated, tracking: Tracking) -> None:
        self.view.update_report(
            id_text(event.originator_id),
            event.status,
            tuple(event.observations),
            event.occurred_at,
            id_text(event.source_message_id),
            tracking,
        )

    @handles(Patient.Merged)
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.record_merge(id_text(event.originator_id), id_text(event.survivor_id), tracking)
