"""The patient history in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.persistence import Tracking

from projections.batching import MemoryBatching
from projections.history.view import (
    HistoryEntry,
    HistoryEvent,
    HistoryView,
    MessageInfo,
    utc_text,
)
from projections.memory_tracking import MemoryTrackingRecorder
from projections.merges import merged_group

__all__ = ["MemoryHistoryView"]


class MemoryHistoryView(MemoryBatching, HistoryView, MemoryTrackingRecorder):
    """Dicts guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[tuple[str, HistoryEntry]] = []  # (patient id, entry), in order
        self._links: dict[str, str] = {}
        self._merges: dict[str, tuple[str, str]] = {}  # retired -> (survivor, recorded_at)
        self._messages: dict[str, MessageInfo] = {}

    def _track(self, tracking: Tracking) -> None:
        self.check_tracking_is_new(tracking)
        self._insert_tracking(tracking)

    def record_message(self, message: MessageInfo, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            self._messages.setdefault(message.message_id, message)

    def record_event(
        self, entry: HistoryEntry, patient_id: str | None, link: bool, tracking: Tracking
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            owner = self._links.get(entry.aggregate_id, "") if patient_id is None else patient_id
            self._rows.append((owner, entry))
            if patient_id is not None and link:
                self._links[entry.aggregate_id] = patient_id

    def record_merge(self, entry: HistoryEntry, survivor_id: str, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            self._rows.append((entry.aggregate_id, entry))
            self._merges[entry.aggregate_id] = (survivor_id, entry.recorded_at)

    def history(self, patient_id: str, as_of: datetime | None = None) -> list[HistoryEvent]:
        cut = utc_text(as_of) if as_of is not None else None
        with self.database_lock:
            members = [patient_id]
            frontier = [patient_id]
            while frontier:
                found = [
                    retired
                    for retired, (survivor, at) in self._merges.items()
                    if survivor in frontier
                    and (cut is None or at <= cut)
                    and retired not in members
                ]
                members.extend(found)
                frontier = found
            return [
                HistoryEvent(
                    entry,
                    owner,
                    "" if owner == patient_id else owner,
                    self._messages.get(entry.source_message_id),
                )
                # store order, as the SQL views' ORDER BY: a Kafka worker applies
                # different patients' partitions in no particular order between them
                for owner, entry in sorted(self._rows, key=lambda r: r[1].notification_id)
                if owner in members and (cut is None or entry.recorded_at <= cut)
            ]

    def known(self, patient_id: str) -> bool:
        with self.database_lock:
            return any(owner == patient_id for owner, _ in self._rows)

    def merged_into(self, patient_id: str) -> str:
        with self.database_lock:
            return self._merges.get(patient_id, ("", ""))[0]

    def merged_group(self, patient_id: str) -> frozenset[str]:
        with self.database_lock:
            return merged_group(patient_id, {r: s for r, (s, _) in self._merges.items()})
