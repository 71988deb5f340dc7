"""Encounter events to visit rows and location history; merges move visits to the survivor.

Handlers read only the event and the view (the visit's current record) and
make one view command each: no clock, no repository, no network, so a replay
from position 0 rebuilds the same rows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.domain.encounter import CANCELLED, FINISHED, IN_PROGRESS, PLANNED, Encounter
from engine.domain.patient import Patient
from engine.domain.values import Location
from projections.dispatch import DispatchingProjection, handles
from projections.encounters.view import EncounterRecord, EncounterView, LocationStay
from projections.texts import id_text
from projections.topics import VISIT_TOPICS

__all__ = ["EncounterProjection"]

_CAUSE = {
    Encounter.Admitted: "admitted",
    Encounter.Registered: "registered",
    Encounter.PreAdmitted: "pre-admitted",
}


class EncounterProjection(DispatchingProjection[EncounterView]):
    """Maintains ``encounters_v1``; bump the suffix to rebuild beside the old tables."""

    name = "encounters_v1"
    topics = (*VISIT_TOPICS, get_topic(Encounter.DetailsUpdated))

    @handles(Encounter.Started)
    def _started(self, event: Encounter.Started, tracking: Tracking) -> None:
        planned = isinstance(event, Encounter.PreAdmitted)
        patient_id = id_text(event.patient_id)
        stays = []
        if not event.location.is_empty():
            stays.append(
                LocationStay(1, event.location, event.occurred_at, cause=_CAUSE[type(event)])
            )
        record = EncounterRecord(
            encounter_id=id_text(event.originator_id),
            patient_id=patient_id,
            subject_id=patient_id,  # the view follows merges it knows of
            visit_number=event.visit_number,
            status=PLANNED if planned else IN_PROGRESS,
            patient_class=event.patient_class,
            location=event.location,
            prior_location=Location(),
            admission_type=event.admission_type,
            priority=event.priority,
            admitted_at=event.started_at or event.occurred_at,
            arrived_at=None if planned else event.occurred_at,
            discharged_at=None,
            updated_at=event.occurred_at,
            location_seq=1 if stays else 0,
            details=event.details,
        )
        self.view.save_encounter(record, stays, tracking)

    @handles(Encounter.Arrived)
    def _arrived(self, event: Encounter.Arrived, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        record = replace(
            record,
            status=IN_PROGRESS,
            patient_class=event.patient_class or record.patient_class,
            admitted_at=event.started_at or event.occurred_at,
            arrived_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
        location = event.location if not event.location.is_empty() else record.location
        when = event.occurred_at
        current = record.current_stay
        stays = []
        if current is not None and current.location == location:
            seq = current.seq  # the planned place, taken now
            stays.append(replace(current, started_at=when, cause="arrived"))
        else:
            if current is not None:  # the planned place was never taken
                stays.append(replace(current, ended_at=when, cancelled=True))
            seq = _next_seq(record)
            if not location.is_empty():
                stays.append(LocationStay(seq, location, when, None, "arrived"))
        record = replace(record, location=location, location_seq=0 if location.is_empty() else seq)
        self.view.save_encounter(record, stays, tracking)

    @handles(Encounter.Transferred)
    def _transferred(self, event: Encounter.Transferred, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        record = replace(record, prior_location=record.location, updated_at=event.occurred_at)
        self._move(record, event.location, event.occurred_at, "transferred", tracking)

    @handles(Encounter.TransferCancelled)
    def _transfer_cancelled(self, event: Encounter.TransferCancelled, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        stays = []
        current = record.current_stay
        if current is not None:  # the stay the cancelled transfer made never happened
            stays.append(replace(current, ended_at=event.occurred_at, cancelled=True))
        earlier = [s for s in record.locations if not s.cancelled and s.seq != record.location_seq]
        if earlier and earlier[-1].location == event.location:
            seq = earlier[-1].seq  # back where it was, as if it had never left
            stays.append(replace(earlier[-1], ended_at=None))
        else:
            seq = _next_seq(record)
            stays.append(
                LocationStay(seq, event.location, event.occurred_at, None, "transfer-cancelled")
            )
        record = replace(
            record,
            location=event.location,
            prior_location=Location(),
            location_seq=seq,
            updated_at=event.occurred_at,
        )
        self.view.save_encounter(record, stays, tracking)

    @handles(Encounter.ClassChanged)
    def _class_changed(self, event: Encounter.ClassChanged, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        record = replace(record, patient_class=event.patient_class, updated_at=event.occurred_at)
        self._move(record, event.location, event.occurred_at, "class-changed", tracking)

    @handles(Encounter.InpatientAdmitted)
    def _inpatient_admitted(self, event: Encounter.InpatientAdmitted, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        record = replace(
            record,
            patient_class=event.patient_class,
            admitted_at=event.admitted_at,
            updated_at=event.occurred_at,
            details=event.details,
        )
        self._move(record, event.location, event.occurred_at, "admitted", tracking)

    @handles(Encounter.DetailsUpdated)
    def _details_updated(self, event: Encounter.DetailsUpdated, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        record = replace(record, details=event.details, updated_at=event.occurred_at)
        self.view.save_encounter(record, [], tracking)

    @handles(Encounter.Discharged)
    def _discharged(self, event: Encounter.Discharged, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        when = event.discharged_at or event.occurred_at
        if event.disposition:
            details = replace(record.details, disposition=event.disposition)
            record = replace(record, details=details)
        self._end(record, FINISHED, when, event.occurred_at, tracking)

    @handles(Encounter.DischargeCancelled)
    def _discharge_cancelled(self, event: Encounter.DischargeCancelled, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        stays = []
        if (current := record.current_stay) is not None:
            stays.append(replace(current, ended_at=None))
        record = replace(
            record, status=IN_PROGRESS, discharged_at=None, updated_at=event.occurred_at
        )
        self.view.save_encounter(record, stays, tracking)

    @handles(Encounter.AdmissionCancelled)
    def _admission_cancelled(self, event: Encounter.AdmissionCancelled, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        self._end(record, CANCELLED, None, event.occurred_at, tracking)

    @handles(Patient.Merged)
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.merge_patient(id_text(event.originator_id), id_text(event.survivor_id), tracking)

    # Helpers ----------------------------------------------------------------

    def _record(self, event: Any, tracking: Tracking) -> EncounterRecord | None:
        record = self.view.encounter(id_text(event.originator_id))
        if record is None:  # the visit's opening event is not in this history
            self.view.insert_tracking(tracking)
        return record

    def _move(
        self,
        record: EncounterRecord,
        location: Location,
        when: Any,
        cause: str,
        tracking: Tracking,
    ) -> None:
        """Ends the current location row and opens one at ``location`` when it differs."""
        current = record.current_stay
        if current is not None and current.location == location:
            self.view.save_encounter(replace(record, location=location), [], tracking)
            return
        stays = []
        if current is not None:
            stays.append(replace(current, ended_at=when))
        seq = _next_seq(record)
        if not location.is_empty():
            stays.append(LocationStay(seq, location, when, None, cause))
        record = replace(record, location=location, location_seq=0 if location.is_empty() else seq)
        self.view.save_encounter(record, stays, tracking)

    def _end(
        self,
        record: EncounterRecord,
        status: str,
        discharged_at: Any,
        when: Any,
        tracking: Tracking,
    ) -> None:
        stays = []
        if (current := record.current_stay) is not None and current.ended_at is None:
            stays.append(replace(current, ended_at=discharged_at or when))
        record = replace(record, status=status, discharged_at=discharged_at, updated_at=when)
        self.view.save_encounter(record, stays, tracking)


def _next_seq(record: EncounterRecord) -> int:
    return max((s.seq for s in record.locations), default=0) + 1
