"""The patient index in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder

from engine.domain.values import Identifier, PersonName
from projections.batching import MemoryBatching
from projections.patients.view import PatientRecord, PatientView

__all__ = ["MemoryPatientView"]


class MemoryPatientView(MemoryBatching, PatientView, POPOTrackingRecorder):
    """Dicts guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._patients: dict[str, PatientRecord] = {}
        self._owners: dict[tuple[str, str, str], str] = {}

    def _track(self, tracking: Tracking) -> None:
        self._assert_tracking_uniqueness(tracking)
        self._insert_tracking(tracking)

    def register_patient(
        self,
        patient_id: str,
        identifiers: Sequence[Identifier],
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
    ) -> None:
        with self._database_lock:
            self._track(tracking)
            self._patients[patient_id] = PatientRecord(
                patient_id, name, birth_date, sex, updated_at, tuple(identifiers)
            )
            for identifier in identifiers:
                self._claim(patient_id, identifier)

    def update_demographics(
        self,
        patient_id: str,
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
    ) -> None:
        with self._database_lock:
            self._track(tracking)
            record = self._patients[patient_id]
            self._patients[patient_id] = replace(
                record, name=name, birth_date=birth_date, sex=sex, updated_at=updated_at
            )

    def mark_merged(
        self, patient_id: str, survivor_id: str, updated_at: datetime, tracking: Tracking
    ) -> None:
        with self._database_lock:
            self._track(tracking)
            record = self._patients[patient_id]
            self._patients[patient_id] = replace(
                record, merged_into=survivor_id, updated_at=updated_at
            )

    def add_identifier(self, patient_id: str, identifier: Identifier, tracking: Tracking) -> None:
        with self._database_lock:
            self._track(tracking)
            self._claim(patient_id, identifier)

    def _claim(self, patient_id: str, identifier: Identifier) -> None:
        key = (identifier.value, identifier.authority, identifier.authority_id)
        previous = self._owners.get(key)
        if previous is not None and previous != patient_id:
            old = self._patients[previous]
            kept = tuple(i for i in old.identifiers if i != identifier)
            self._patients[previous] = replace(old, identifiers=kept)
        self._owners[key] = patient_id
        record = self._patients[patient_id]
        if identifier not in record.identifiers:
            self._patients[patient_id] = replace(
                record, identifiers=(*record.identifiers, identifier)
            )

    def get_patient(self, patient_id: str) -> PatientRecord | None:
        with self._database_lock:
            return self._patients.get(patient_id)

    def find_by_identifier(self, value: str, authority: str | None = None) -> list[PatientRecord]:
        with self._database_lock:
            owners = {
                owner
                for (v, ns, uid), owner in self._owners.items()
                if v == value and (authority is None or authority in (ns, uid))
            }
            return [self._patients[o] for o in sorted(owners)]
