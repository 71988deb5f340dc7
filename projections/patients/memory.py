"""The patient index in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from eventsourcing.persistence import Tracking

from engine.domain.values import Identifier, PatientDetails, PersonName
from projections.batching import MemoryBatching
from projections.memory_tracking import MemoryTrackingRecorder
from projections.patients.search import PatientCriteria, search_key
from projections.patients.view import PatientRecord, PatientView, sort_value

__all__ = ["MemoryPatientView"]


class MemoryPatientView(MemoryBatching, PatientView, MemoryTrackingRecorder):
    """Dicts guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._patients: dict[str, PatientRecord] = {}
        # identifier key -> (owner, store position of the claim), as in the SQL views
        self._owners: dict[tuple[str, str, str], tuple[str, int]] = {}

    def _track(self, tracking: Tracking) -> None:
        self.check_tracking_is_new(tracking)
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
        details: PatientDetails | None = None,
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            record = PatientRecord(
                patient_id, name, birth_date, sex, updated_at, details=details or PatientDetails()
            )
            self._patients[patient_id] = record
            for identifier in identifiers:
                self._claim(patient_id, identifier, tracking.notification_id)

    def update_demographics(
        self,
        patient_id: str,
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
        details: PatientDetails | None = None,
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            record = self._patients[patient_id]
            self._patients[patient_id] = replace(
                record,
                name=name,
                birth_date=birth_date,
                sex=sex,
                updated_at=updated_at,
                details=record.details if details is None else details,
            )

    def mark_merged(
        self, patient_id: str, survivor_id: str, updated_at: datetime, tracking: Tracking
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            record = self._patients[patient_id]
            self._patients[patient_id] = replace(
                record, merged_into=survivor_id, updated_at=updated_at
            )

    def add_identifier(
        self,
        patient_id: str,
        identifier: Identifier,
        tracking: Tracking,
        updated_at: datetime | None = None,
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            self._claim(patient_id, identifier, tracking.notification_id)
            self._touch(patient_id, updated_at)

    def absorb(
        self,
        patient_id: str,
        retired_id: str,
        identifiers: Sequence[Identifier],
        updated_at: datetime,
        tracking: Tracking,
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            for identifier in identifiers:
                self._claim(patient_id, identifier, tracking.notification_id, old=True)
            self._touch(patient_id, updated_at)

    def _touch(self, patient_id: str, updated_at: datetime | None) -> None:
        record = self._patients.get(patient_id)
        if record is not None and updated_at is not None:
            self._patients[patient_id] = replace(record, updated_at=updated_at)

    def _claim(
        self, patient_id: str, identifier: Identifier, position: int, *, old: bool = False
    ) -> None:
        """The latest claim in store order wins, whatever order claims arrive in (sql.py)."""
        key = _key(identifier)
        previous, claimed_at = self._owners.get(key, ("", 0))
        if previous and position < claimed_at:
            return  # an older claim applied late (another Kafka partition): it lost
        self._owners[key] = (patient_id, position)
        record = self._patients[patient_id]
        olds = record.old_identifiers - {identifier.key()}
        olds = olds | {identifier.key()} if old else olds
        if previous == patient_id:  # claimed again (its type may differ): in its place
            listed = tuple(identifier if _key(i) == key else i for i in record.identifiers)
            self._patients[patient_id] = replace(record, identifiers=listed, old_identifiers=olds)
            return
        if previous:
            lost = self._patients[previous]
            kept = tuple(i for i in lost.identifiers if _key(i) != key)
            lost_old = lost.old_identifiers - {identifier.key()}
            self._patients[previous] = replace(lost, identifiers=kept, old_identifiers=lost_old)
        self._patients[patient_id] = replace(
            record, identifiers=(*record.identifiers, identifier), old_identifiers=olds
        )

    def get_patient(self, patient_id: str) -> PatientRecord | None:
        with self.database_lock:
            return self._patients.get(patient_id)

    def find_by_identifier(self, value: str, authority: str | None = None) -> list[PatientRecord]:
        with self.database_lock:
            owners = {
                owner
                for (v, ns, uid), (owner, _) in self._owners.items()
                if v == value and (authority is None or authority in (ns, uid))
            }
            return [self._patients[o] for o in sorted(owners)]

    def search(self, criteria: PatientCriteria, limit: int) -> list[PatientRecord]:
        keyset = criteria.keyset

        def key(r: PatientRecord) -> tuple[str, str]:
            return (sort_value(r, keyset.sort), r.patient_id)

        reverse = keyset.descending != keyset.backward
        found = sorted(self._matching(criteria), key=key, reverse=reverse)
        if keyset.cursor is not None:
            cursor = keyset.cursor if keyset.sort else (keyset.cursor[1], keyset.cursor[1])
            ahead = keyset.descending == keyset.backward
            found = [r for r in found if (key(r) > cursor if ahead else key(r) < cursor)]
        page = found[:limit]
        return page[::-1] if keyset.backward else page

    def count(self, criteria: PatientCriteria) -> int:
        return len(self._matching(criteria))

    def _matching(self, criteria: PatientCriteria) -> list[PatientRecord]:
        held: list[set[str]] = [
            {r.patient_id for r in self.find_by_identifier(value, authority)}
            for value, authority in criteria.identifiers
        ]
        with self.database_lock:
            records = sorted(self._patients.values(), key=lambda r: r.patient_id)
        return [
            r
            for r in records
            if (not criteria.ids or r.patient_id in criteria.ids)
            and all(r.patient_id in ids for ids in held)
            and _names_match(r, criteria)
            and all(d.matches(r.birth_date) for d in criteria.birth_dates)
            and (criteria.sexes is None or r.sex in criteria.sexes)
            and all(d.matches(r.updated_at.isoformat()) for d in criteria.last_updated)
        ]


def _names_match(record: PatientRecord, criteria: PatientCriteria) -> bool:
    family, given, middle = (
        search_key(x) for x in (record.name.family, record.name.given, record.name.middle)
    )
    for keys, groups in (
        ((family, given, middle), criteria.names),
        ((family,), criteria.families),
        ((given, middle), criteria.givens),
    ):
        for alternatives in groups:
            wanted = [search_key(a) for a in alternatives]
            if not any(k.startswith(w) for k in keys for w in wanted):
                return False
    return True


def _key(identifier: Identifier) -> tuple[str, str, str]:
    """The identifier's identity in the index, as the SQL tables' primary key."""
    return (identifier.value, identifier.authority, identifier.authority_id)
