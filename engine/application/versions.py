"""The stored versions of one aggregate, as domain events: what vread and ``_history`` replay.

Every version of a resource carelog serves is an event in the store, so the
history of a resource is the events of its aggregate, read back through the
application's mapper (decrypted there; an erased patient's events raise
ErasedDataError, which the caller turns into its "gone" answer). The HTTP
adapters ask this service rather than the recorder, so they never see stored
(encrypted) records.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application

__all__ = ["AggregateVersions"]


class AggregateVersions:
    """Reads the events of one aggregate from an application's event store."""

    def __init__(self, application: Application[UUID]) -> None:
        self.application = application

    def events(self, aggregate_id: str, upto: int | None = None) -> list[Any]:
        """The aggregate's events in version order (up to version ``upto``), [] when unknown.

        Raises:
            ErasedDataError: the events belong to an erased patient.
        """
        try:
            originator = UUID(aggregate_id)
        except ValueError:
            return []
        return list(self.application.events.get(originator, lte=upto))

    def latest(self, aggregate_id: str) -> int | None:
        """The aggregate's newest version without decoding any event, None when unknown."""
        try:
            originator = UUID(aggregate_id)
        except ValueError:
            return None
        last = self.application.recorder.select_events(originator, desc=True, limit=1)
        return last[0].originator_version if last else None
