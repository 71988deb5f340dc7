"""Appointment and visit events to appointment rows: booked, moved, arrived, over.

SIU events (Appointment.*) write the row. A visit that starts (A04, A01, or the
visit an SIU arrival starts) for a patient with an open appointment at that
point of care on that day marks the earliest such appointment ``arrived`` and
links the visit; the visit's discharge then makes it ``fulfilled``, a
cancelled admission (A11) makes it booked again. "That day" is the calendar
day of the visit's event time, in the offset the feed sent: handlers read
only events and the view, no clock, so a replay rebuilds the same rows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.domain.appointment import (
    ARRIVED,
    BOOKED,
    FULFILLED,
    Appointment,
    AppointmentDetails,
    status_for,
)
from engine.domain.encounter import Encounter
from engine.domain.patient import Patient
from engine.domain.values import Coded
from projections.appointments.view import AppointmentRecord, AppointmentView
from projections.dispatch import DispatchingProjection, handles
from projections.texts import id_text

__all__ = ["AppointmentProjection", "details_json"]

APPOINTMENT_TOPICS: tuple[str, ...] = tuple(
    get_topic(cls)
    for cls in (
        Appointment.Booked,
        Appointment.Rescheduled,
        Appointment.Modified,
        Appointment.Cancelled,
        Appointment.NoShow,
        Appointment.Arrived,
        Encounter.Admitted,
        Encounter.Registered,
        Encounter.Arrived,
        Encounter.Discharged,
        Encounter.AdmissionCancelled,
        Patient.Merged,
    )
)


def _coded(c: Coded | None) -> dict[str, str] | None:
    return None if c is None else {"code": c.code, "text": c.text, "system": c.system}


def details_json(details: AppointmentDetails) -> str:
    """What the row keeps of the details beyond its columns, as JSON text."""
    return json.dumps(
        {
            "resources": [
                {"role": p.role, "id": p.id, "family": p.family, "given": p.given}
                for p in details.resources
            ],
            "services": [_coded(s) for s in details.services],
            "reason": _coded(details.reason),
            "type": _coded(details.appointment_type),
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _slot(record: AppointmentRecord, d: AppointmentDetails) -> AppointmentRecord:
    loc = d.location
    text = "^".join([loc.point_of_care, loc.room, loc.bed, loc.facility]).rstrip("^")
    return replace(
        record,
        filler_status=d.filler_status,
        start=d.start,
        end=d.end,
        start_day=d.start.isoformat()[:10] if d.start else "",
        duration_minutes=d.duration_minutes,
        location=loc.point_of_care,
        location_text=text,
        details=details_json(d),
    )


def _same_day(start: datetime | None, when: datetime) -> bool:
    return start is not None and start.astimezone(when.tzinfo).date() == when.date()


class AppointmentProjection(DispatchingProjection[AppointmentView]):
    """Maintains ``appointments_v1``; bump the suffix to rebuild beside the old tables."""

    name = "appointments_v1"
    topics = APPOINTMENT_TOPICS

    @handles(Appointment.Booked)
    def _booked(self, event: Appointment.Booked, tracking: Tracking) -> None:
        record = AppointmentRecord(
            appointment_id=id_text(event.originator_id),
            patient_id=id_text(event.patient_id),
            placer_id=event.placer_id,
            filler_id=event.filler_id,
            status=status_for(event.details.filler_status, BOOKED),
            filler_status="",
            start=None,
            end=None,
            start_day="",
            duration_minutes=None,
            location="",
            location_text="",
            details="",
            encounter_id="",
            arrived_at=None,
            booked_at=event.occurred_at,
            updated_at=event.occurred_at,
            version=event.originator_version,
        )
        self.view.save(_slot(record, event.details), tracking)

    @handles(Appointment.Changed)
    def _changed(self, event: Appointment.Changed, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        status = status_for(event.details.filler_status, record.status)
        if record.status in (ARRIVED, FULFILLED) and status == BOOKED:
            status = record.status  # a change repeating "Booked" does not undo the arrival
        updated = replace(_slot(record, event.details), status=status)
        self.view.save(self._touched(updated, event), tracking)

    @handles(Appointment.Cancelled, Appointment.NoShow)
    def _over(self, event: Appointment.Cancelled | Appointment.NoShow, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        status = "cancelled" if isinstance(event, Appointment.Cancelled) else "noshow"
        self.view.save(self._touched(replace(record, status=status), event), tracking)

    @handles(Appointment.Arrived)
    def _arrived(self, event: Appointment.Arrived, tracking: Tracking) -> None:
        record = self._record(event, tracking)
        if record is None:
            return
        arrived = replace(
            record,
            status=ARRIVED,
            encounter_id=id_text(event.encounter_id),
            arrived_at=event.occurred_at,
        )
        self.view.save(self._touched(arrived, event), tracking)

    @handles(Encounter.Registered, Encounter.Admitted, Encounter.Arrived)
    def _visit_started(
        self, event: Encounter.Started | Encounter.Arrived, tracking: Tracking
    ) -> None:
        """A visit starting (A04, A01, or either after A05) at an appointment's place that day."""
        where = event.location.point_of_care
        when = event.occurred_at
        patient = event.patient_id
        candidates = self.view.open_for(id_text(patient), where) if where and patient else []
        today = [r for r in candidates if _same_day(r.start, when)]
        if not today:
            self.view.insert_tracking(tracking)
            return
        arrived = replace(
            today[0], status=ARRIVED, encounter_id=id_text(event.originator_id), arrived_at=when
        )
        self.view.save(replace(arrived, updated_at=when), tracking)

    @handles(Encounter.Discharged, Encounter.AdmissionCancelled)
    def _visit_over(
        self, event: Encounter.Discharged | Encounter.AdmissionCancelled, tracking: Tracking
    ) -> None:
        linked = [
            r for r in self.view.for_encounter(id_text(event.originator_id)) if r.status == ARRIVED
        ]
        if not linked:
            self.view.insert_tracking(tracking)
            return
        record = linked[0]
        if isinstance(event, Encounter.Discharged):
            record = replace(record, status=FULFILLED)
        else:  # the visit never happened: the patient is expected again
            record = replace(record, status=BOOKED, encounter_id="", arrived_at=None)
        self.view.save(replace(record, updated_at=event.occurred_at), tracking)

    @handles(Patient.Merged)
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.merge_patient(id_text(event.originator_id), id_text(event.survivor_id), tracking)

    def _record(self, event: Any, tracking: Tracking) -> AppointmentRecord | None:
        record = self.view.appointment(id_text(event.originator_id))
        if record is None:  # the booking is not in this history
            self.view.insert_tracking(tracking)
        return record

    @staticmethod
    def _touched(record: AppointmentRecord, event: Any) -> AppointmentRecord:
        return replace(record, updated_at=event.occurred_at, version=event.originator_version)
