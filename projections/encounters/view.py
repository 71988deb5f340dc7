"""The encounter read model: one row per visit, its location history, merges followed.

A view is a TrackingRecorder: each command writes its rows and the tracking
position in one transaction. The projection decides what a visit looks like
after an event (it reads the visit's current record through ``encounter``,
which sees the rows of the runner's open batch) and hands the view whole
records to store, so every backend stores the same thing and the rules live
in one place (``projection.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from eventsourcing.persistence import Tracking, TrackingRecorder

from engine.domain.values import EncounterDetails, Identifier, Location

__all__ = ["ACTIVE", "EncounterRecord", "EncounterView", "LocationStay"]

ACTIVE = "in-progress"


@dataclass(frozen=True, slots=True)
class LocationStay:
    """One place a visit was at (a row of ``encounter_locations_v1``).

    ``cause`` names the event that put the patient there (admitted, registered,
    pre-admitted, arrived, transferred, transfer-cancelled, class-changed; admitted
    also for the admission of an emergency or outpatient visit).
    A stay undone by a cancelled transfer (A12) is kept, marked ``cancelled``.
    """

    seq: int
    location: Location
    started_at: datetime
    ended_at: datetime | None = None
    cause: str = ""
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class EncounterRecord:
    """One visit as the read model shows it.

    ``patient_id`` is the patient the feed named; ``subject_id`` the patient the
    visit belongs to now (the survivor, once that patient was merged, A40).
    ``admitted_at`` is PV1-44 when sent, else the time of the event that opened
    the visit; ``arrived_at`` the time the patient arrived (None while planned).
    """

    encounter_id: str
    patient_id: str
    subject_id: str
    visit_number: Identifier | None
    status: str
    patient_class: str
    location: Location
    prior_location: Location
    admission_type: str
    priority: str
    admitted_at: datetime | None
    arrived_at: datetime | None
    discharged_at: datetime | None
    updated_at: datetime
    location_seq: int = 0
    locations: tuple[LocationStay, ...] = field(default=())
    details: EncounterDetails = field(default_factory=EncounterDetails)

    @property
    def current_stay(self) -> LocationStay | None:
        """The location row the visit is at now (None before any)."""
        for stay in self.locations:
            if stay.seq == self.location_seq:
                return stay
        return None


class EncounterView(TrackingRecorder, ABC):
    """Commands take a Tracking and apply atomically with it; queries return records."""

    @abstractmethod
    def save_encounter(
        self, record: EncounterRecord, stays: Sequence[LocationStay], tracking: Tracking
    ) -> None:
        """Stores ``record`` (insert or replace) and the location rows in ``stays``.

        ``subject_id`` is stored as the survivor of the merges the view knows of.
        """

    @abstractmethod
    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        """Moves the visits of ``retired_id`` (and of those merged into it) to ``survivor_id``."""

    @abstractmethod
    def survivor_of(self, patient_id: str) -> str:
        """The patient ``patient_id`` was merged into, followed to the end (itself if none)."""

    @abstractmethod
    def encounter(self, encounter_id: str) -> EncounterRecord | None:
        """The visit with its location history, or None when unknown.

        Inside the runner's batch this sees the batch's own writes.
        """

    @abstractmethod
    def visits(self, patient_id: str, statuses: Sequence[str] = ()) -> list[EncounterRecord]:
        """The patient's visits, newest first, including those of patients merged into them.

        A retired (merged) patient's id still finds the visits the feed sent
        for it. ``statuses`` (FHIR Encounter.status codes) filters when given.
        """

    @abstractmethod
    def visits_numbered(self, visit_number: str) -> list[EncounterRecord]:
        """The visits whose visit number (PV1-19.1) is ``visit_number``, any authority."""

    def active_visits(self, patient_id: str) -> list[EncounterRecord]:
        """The patient's visits in progress, newest first."""
        return self.visits(patient_id, (ACTIVE,))

    def current_location(self, patient_id: str) -> Location | None:
        """Where the patient is now: the location of their newest visit in progress."""
        active = self.active_visits(patient_id)
        return active[0].location if active else None
