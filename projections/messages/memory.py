"""The message log in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from eventsourcing.persistence import Tracking

from projections.batching import MemoryBatching
from projections.memory_tracking import MemoryTrackingRecorder
from projections.messages.view import LogEntry, LogFilter, MessageLogView

__all__ = ["MemoryMessageLogView"]


class MemoryMessageLogView(MemoryBatching, MessageLogView, MemoryTrackingRecorder):
    """Dicts guarded by the recorder's lock; searched by a scan (tests only, small)."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[str, LogEntry] = {}
        self._keys: dict[str, set[tuple[str, str]]] = {}

    def add_entry(
        self, entry: LogEntry, keys: Sequence[tuple[str, str]], tracking: Tracking
    ) -> None:
        with self.database_lock:
            self.check_tracking_is_new(tracking)
            self._insert_tracking(tracking)
            self._entries.setdefault(entry.entry_id, entry)
            self._keys.setdefault(entry.entry_id, set()).update(keys)
            original = self._entries.get(entry.reprocess_of)
            if entry.accepted and original is not None:
                self._entries[original.entry_id] = replace(original, reprocessed_as=entry.entry_id)

    def entry(self, entry_id: str) -> LogEntry | None:
        with self.database_lock:
            return self._entries.get(entry_id)

    def search(self, query: LogFilter) -> list[LogEntry]:
        with self.database_lock:
            found = [
                e for e in self._entries.values() if _matches(e, self._keys[e.entry_id], query)
            ]
        found.sort(key=lambda e: (e.received_at, e.position), reverse=True)
        return found[: max(1, min(query.limit, 1000))]

    def causes(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        with self.database_lock:
            for e in self._entries.values():
                if _pending(e):
                    counts[e.cause] = counts.get(e.cause, 0) + 1
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def rejected_before(self, when: datetime, limit: int = 1000) -> list[tuple[str, int]]:
        with self.database_lock:
            old = [e for e in self._entries.values() if not e.accepted and e.received_at < when]
        old.sort(key=lambda e: e.received_at)
        return [(e.entry_id, e.position) for e in old[:limit]]

    def forget_before(self, when: datetime) -> int:
        with self.database_lock:
            old = [i for i, e in self._entries.items() if e.received_at < when]
            for entry_id in old:
                del self._entries[entry_id]
                del self._keys[entry_id]
        return len(old)


def _matches(e: LogEntry, keys: set[tuple[str, str]], q: LogFilter) -> bool:
    if q.key_kind and q.key_value and (q.key_kind, q.key_value) not in keys:
        return False
    if q.since is not None and e.received_at < q.since:
        return False
    if q.until is not None and e.received_at >= q.until:
        return False
    if q.message_type and not (
        e.message_type == q.message_type or e.message_type.startswith(q.message_type + "^")
    ):
        return False
    pairs = (
        (q.sender, e.sender),
        (q.ack_code, e.ack_code),
        (q.control_id, e.control_id),
        (q.cause, e.cause),
    )
    if any(wanted and wanted != value for wanted, value in pairs):
        return False
    if q.pending and not _pending(e):
        return False
    return q.accepted is None or q.accepted == e.accepted


def _pending(e: LogEntry) -> bool:
    return not e.accepted and not e.reprocessed_as and not e.reprocess_of
