"""The patient history read model: every event that concerns a patient, for audit.

Rows are indexed by patient as the events are applied: Patient events by
their own id, Encounter, LabReport and Account events by the patient their
creation event named (the view keeps that link), so a later transfer or
charge finds its patient without reading the event store. Merges are kept as
links retired -> survivor; the survivor's history includes the retired
patient's events, marked with ``merged_from``. Times are stored in UTC, so
"as of" a time is a filter on ``recorded_at``, not a rebuild.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import Tracking, TrackingRecorder

from projections.timestamps import to_text

__all__ = ["HistoryEntry", "HistoryEvent", "HistoryView", "MessageInfo", "utc_text"]


def utc_text(value: datetime) -> str:
    """A time as stored: UTC, always with microseconds, so text order is time order."""
    return to_text(value)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """What the projection records for one event."""

    notification_id: int
    event_type: str  # the event class's qualified name: Encounter.Transferred
    aggregate_id: str
    aggregate_version: int
    occurred_at: str  # HL7 time (EVN-2, else MSH-7), UTC text
    recorded_at: str  # when carelog stored it (the event's timestamp), UTC text
    source_message_id: str
    summary: str


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """The source message of an event, as received (no message text)."""

    message_id: str
    control_id: str
    message_type: str
    sending_application: str
    sending_facility: str
    recorded_at: str


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of a patient's history."""

    entry: HistoryEntry
    patient_id: str  # whose event it is (the retired patient's, for merged_from)
    merged_from: str  # "" for the patient's own events, else the retired patient's id
    message: MessageInfo | None


class HistoryView(TrackingRecorder, ABC):
    """Commands take a Tracking and apply atomically with it; queries return records."""

    @abstractmethod
    def record_message(self, message: MessageInfo, tracking: Tracking) -> None:
        """Remembers a received message's header, for the events that name it."""

    @abstractmethod
    def record_event(
        self, entry: HistoryEntry, patient_id: str | None, link: bool, tracking: Tracking
    ) -> None:
        """Adds ``entry`` to ``patient_id``'s history.

        ``patient_id`` None means the patient is the one linked to the entry's
        aggregate (an encounter, report or account seen before); ``link``
        records that aggregate -> patient link for the events that follow.
        """

    @abstractmethod
    def record_merge(self, entry: HistoryEntry, survivor_id: str, tracking: Tracking) -> None:
        """Adds the merge to the retired patient's history and links it to the survivor."""

    @abstractmethod
    def history(self, patient_id: str, as_of: datetime | None = None) -> list[HistoryEvent]:
        """The patient's events (and those of patients merged into it), oldest first.

        With ``as_of``, only events (and merges) recorded at or before it.
        """

    @abstractmethod
    def known(self, patient_id: str) -> bool:
        """Whether any event concerns this patient."""

    @abstractmethod
    def merged_into(self, patient_id: str) -> str:
        """The survivor a patient was merged into, "" if none."""

    @abstractmethod
    def merged_group(self, patient_id: str) -> frozenset[str]:
        """The patient and every patient it is one with by merges (either way): one person."""
