"""The billing read model in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from collections.abc import Iterable

from eventsourcing.persistence import Tracking

from projections.batching import MemoryBatching
from projections.billing.view import AccountRecord, BillingLine, BillingView
from projections.memory_tracking import MemoryTrackingRecorder

__all__ = ["MemoryBillingView"]


class MemoryBillingView(MemoryBatching, BillingView, MemoryTrackingRecorder):
    """Dicts guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._accounts: dict[str, AccountRecord] = {}
        self._lines: dict[str, dict[int, BillingLine]] = {}
        self._merges: dict[str, str] = {}

    def _track(self, tracking: Tracking) -> None:
        self.check_tracking_is_new(tracking)
        self._insert_tracking(tracking)

    def open_account(self, account: AccountRecord, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            self._accounts.setdefault(account.account_id, account)

    def add_line(self, line: BillingLine, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            self._lines.setdefault(line.account_id, {}).setdefault(line.seq, line)

    def record_merge(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            self._merges[retired_id] = survivor_id

    def find_accounts(self, account: str) -> list[AccountRecord]:
        with self.database_lock:
            found = [
                a for a in self._accounts.values() if account in (a.account_number, a.account_id)
            ]
        return sorted(found, key=lambda a: a.account_id)

    def accounts_of(self, patient_ids: Iterable[str]) -> list[AccountRecord]:
        ids = set(patient_ids)
        with self.database_lock:
            found = [a for a in self._accounts.values() if a.patient_id in ids]
        return sorted(found, key=lambda a: (a.account_number, a.account_id))

    def lines_of(self, account_id: str) -> list[BillingLine]:
        with self.database_lock:
            lines = self._lines.get(account_id, {})
            return [lines[s] for s in sorted(lines)]

    def merges(self) -> dict[str, str]:
        with self.database_lock:
            return dict(self._merges)
