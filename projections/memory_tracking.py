"""The in-memory views' base: eventsourcing's POPO tracking recorder, with its lock shared.

eventsourcing fence (in-memory views): the one module that reads the POPO
recorder's private ``_database_lock`` and ``_assert_tracking_uniqueness``. A
memory view keeps its rows beside the recorder's tracking records and must
change both under the same lock, with the same duplicate-position check, as
the library's own ``insert_tracking`` does; the public API has no way to run
code under that lock. The memory views are the test and ``popo`` backends;
tests/unit/test_eventsourcing_fence.py keeps such uses out of other modules.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder

__all__ = ["MemoryTrackingRecorder"]


class MemoryTrackingRecorder(POPOTrackingRecorder):
    """``POPOTrackingRecorder`` whose lock and tracking check its subclasses may use."""

    @property
    def database_lock(self) -> Any:
        """The lock the recorder holds while it changes its tracking records."""
        return self._database_lock

    def check_tracking_is_new(self, tracking: Tracking) -> None:
        """Raises the library's IntegrityError if ``tracking``'s position was recorded."""
        self._assert_tracking_uniqueness(tracking)
