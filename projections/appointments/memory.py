"""The appointments read model in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from eventsourcing.persistence import Tracking

from projections.appointments.view import (
    OPEN,
    AppointmentCriteria,
    AppointmentRecord,
    AppointmentView,
)
from projections.batching import MemoryBatching
from projections.memory_tracking import MemoryTrackingRecorder
from projections.merges import record_merge
from projections.timestamps import to_text

__all__ = ["MemoryAppointmentView"]


def _key(r: AppointmentRecord) -> tuple[str, str]:
    return (to_text(r.start) if r.start else "", r.appointment_id)


class MemoryAppointmentView(MemoryBatching, AppointmentView, MemoryTrackingRecorder):
    """A dict guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, AppointmentRecord] = {}
        self._merges: dict[str, str] = {}

    def _track(self, tracking: Tracking) -> None:
        self.check_tracking_is_new(tracking)
        self._insert_tracking(tracking)

    def save(self, record: AppointmentRecord, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            self._rows[record.appointment_id] = record

    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            final = record_merge(self._merges, retired_id, survivor_id)
            if final is None:
                return
            for key, row in list(self._rows.items()):
                if row.patient_id == retired_id:
                    self._rows[key] = replace(row, patient_id=final)

    def _all(self) -> list[AppointmentRecord]:
        with self.database_lock:
            return sorted(self._rows.values(), key=_key)

    def appointment(self, appointment_id: str) -> AppointmentRecord | None:
        with self.database_lock:
            return self._rows.get(appointment_id)

    def open_for(self, patient_id: str, location: str) -> list[AppointmentRecord]:
        return [
            r
            for r in self._all()
            if r.patient_id == patient_id
            and r.location == location
            and (r.status in OPEN or (r.status == "arrived" and not r.encounter_id))
        ]

    def for_encounter(self, encounter_id: str) -> list[AppointmentRecord]:
        return [r for r in self._all() if encounter_id and r.encounter_id == encounter_id]

    def expected(self, location: str, start: datetime, end: datetime) -> list[AppointmentRecord]:
        return [
            r
            for r in self._all()
            if r.location == location
            and r.start is not None
            and start <= r.start < end
            and r.status != "cancelled"
        ]

    def search(self, criteria: AppointmentCriteria, limit: int) -> list[AppointmentRecord]:
        found = []
        for r in self._all():
            if criteria.patients and r.patient_id not in criteria.patients:
                continue
            if criteria.statuses and r.status not in criteria.statuses:
                continue
            if criteria.locations and r.location not in criteria.locations:
                continue
            if not all(d.matches(r.start_day) for d in criteria.dates):
                continue
            if criteria.after is not None and _key(r) <= criteria.after:
                continue
            if criteria.before is not None and _key(r) >= criteria.before:
                break  # in key order: nothing further is before it
            found.append(r)
            if criteria.before is None and len(found) >= limit:
                break
        return found[max(0, len(found) - limit) :] if criteria.before is not None else found
