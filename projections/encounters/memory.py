"""The encounter read model in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from eventsourcing.persistence import Tracking

from projections.batching import MemoryBatching
from projections.encounters.view import EncounterRecord, EncounterView, LocationStay
from projections.memory_tracking import MemoryTrackingRecorder
from projections.merges import record_merge

__all__ = ["MemoryEncounterView"]


class MemoryEncounterView(MemoryBatching, EncounterView, MemoryTrackingRecorder):
    """Dicts guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._encounters: dict[str, EncounterRecord] = {}
        self._stays: dict[str, dict[int, LocationStay]] = {}
        self._merges: dict[str, str] = {}

    def _track(self, tracking: Tracking) -> None:
        self.check_tracking_is_new(tracking)
        self._insert_tracking(tracking)

    def save_encounter(
        self, record: EncounterRecord, stays: Sequence[LocationStay], tracking: Tracking
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            subject = self._merges.get(record.subject_id, record.subject_id)
            self._encounters[record.encounter_id] = replace(
                record, subject_id=subject, locations=()
            )
            rows = self._stays.setdefault(record.encounter_id, {})
            for stay in stays:
                rows[stay.seq] = stay

    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            final = record_merge(self._merges, retired_id, survivor_id)
            if final is None:
                return  # a merge cycle: leave the visits where they are
            for key, record in list(self._encounters.items()):
                if record.subject_id == retired_id:
                    self._encounters[key] = replace(record, subject_id=final)

    def survivor_of(self, patient_id: str) -> str:
        with self.database_lock:
            return self._merges.get(patient_id, patient_id)

    def encounter(self, encounter_id: str) -> EncounterRecord | None:
        with self.database_lock:
            record = self._encounters.get(encounter_id)
            return self._full(record) if record else None

    def visits(self, patient_id: str, statuses: Sequence[str] = ()) -> list[EncounterRecord]:
        with self.database_lock:
            found = [
                self._full(r)
                for r in self._encounters.values()
                if patient_id in (r.subject_id, r.patient_id)
                and (not statuses or r.status in statuses)
            ]
        found.sort(key=lambda r: r.encounter_id)
        found.sort(key=lambda r: r.admitted_at.timestamp() if r.admitted_at else 0, reverse=True)
        return found

    def visits_numbered(self, visit_number: str) -> list[EncounterRecord]:
        with self.database_lock:
            found = [
                self._full(r)
                for r in self._encounters.values()
                if r.visit_number is not None and r.visit_number.value == visit_number
            ]
        found.sort(key=lambda r: r.encounter_id)
        found.sort(key=lambda r: r.admitted_at.timestamp() if r.admitted_at else 0, reverse=True)
        return found

    def _full(self, record: EncounterRecord) -> EncounterRecord:
        rows = self._stays.get(record.encounter_id, {})
        return replace(record, locations=tuple(rows[k] for k in sorted(rows)))
