"""The queue read model in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from itertools import pairwise

from eventsourcing.persistence import Tracking

from projections.batching import MemoryBatching
from projections.memory_tracking import MemoryTrackingRecorder
from projections.merges import record_merge
from projections.queue.view import QueueStay, QueueView, QueueVisit
from projections.timestamps import to_text

__all__ = ["MemoryQueueView"]


class MemoryQueueView(MemoryBatching, QueueView, MemoryTrackingRecorder):
    """Dicts guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._visits: dict[str, QueueVisit] = {}
        self._stays: dict[tuple[str, int], QueueStay] = {}
        self._merges: dict[str, str] = {}  # retired -> final survivor, as queue_merges_v2

    def _track(self, tracking: Tracking) -> None:
        self.check_tracking_is_new(tracking)
        self._insert_tracking(tracking)

    def save_visit(
        self,
        visit: QueueVisit,
        stays: Sequence[QueueStay],
        deleted: Sequence[int],
        tracking: Tracking,
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            self._visits[visit.encounter_id] = visit
            for seq in deleted:
                self._stays.pop((visit.encounter_id, seq), None)
            for stay in stays:
                self._stays[(stay.encounter_id, stay.seq)] = stay

    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            final = record_merge(self._merges, retired_id, survivor_id)
            if final is None:
                return  # a merge cycle: leave the visits where they are
            for key, visit in list(self._visits.items()):
                if visit.patient_id == retired_id:
                    self._visits[key] = replace(visit, patient_id=final)

    def visit(self, encounter_id: str) -> QueueVisit | None:
        with self.database_lock:
            return self._visits.get(encounter_id)

    def stay(self, encounter_id: str, seq: int) -> QueueStay | None:
        with self.database_lock:
            return self._stays.get((encounter_id, seq))

    def queued(self, location: str) -> list[QueueVisit]:
        with self.database_lock:
            here = [v for v in self._visits.values() if v.present and v.location == location]
        return sorted(here, key=lambda v: (v.rank, v.entered_at, v.encounter_id))

    def called(self, location: str) -> list[QueueVisit]:
        with self.database_lock:
            here = [v for v in self._visits.values() if v.seen and v.location == location]
        return sorted(
            here, key=lambda v: (to_text(v.called_at) if v.called_at else "", v.encounter_id)
        )

    def waits_left_between(self, location: str, start: datetime, end: datetime) -> list[float]:
        with self.database_lock:
            return [
                s.wait_seconds
                for s in self._stays.values()
                if s.location == location
                and s.left_at is not None
                and s.wait_seconds is not None
                and start <= s.left_at < end
            ]

    def entries_counted(self, location: str, bounds: Sequence[datetime]) -> list[int]:
        with self.database_lock:
            entered = [s.entered_at for s in self._stays.values() if s.location == location]
        return [sum(1 for e in entered if lo <= e < hi) for lo, hi in pairwise(bounds)]
