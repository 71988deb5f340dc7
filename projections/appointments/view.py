"""The appointments read model: who is expected where and when, and each appointment's state.

One row per appointment (``AppointmentRecord``): its patient, times, location,
status and, once the patient came, the visit that arrival started. The
projection decides (``projection.py``); the view stores whole records and
answers the queries: one appointment, a location's expected list for a time
range, the open appointments an arrival may fulfil, and the FHIR search.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import Tracking, TrackingRecorder

from projections.patients.search import DateRange

__all__ = ["OPEN", "AppointmentCriteria", "AppointmentRecord", "AppointmentView"]

OPEN = ("booked", "pending", "waitlist")
"""Statuses an arrival can still turn into ``arrived``."""


@dataclass(frozen=True, slots=True)
class AppointmentRecord:
    """An appointment as served (a row of ``appointments_v1``).

    ``location`` is the point of care (AIL-3.1), ``location_text`` the whole PL
    as ``point^room^bed^facility``; ``start_day`` the calendar day of ``start``
    in the offset the feed sent it (what ``date=`` searches match). ``details``
    is JSON text: resources (AIP), services (AIS), reason, type. ``encounter_id``
    and ``arrived_at``: the visit whose arrival fulfilled it, and when.
    """

    appointment_id: str
    patient_id: str
    placer_id: str
    filler_id: str
    status: str
    filler_status: str
    start: datetime | None
    end: datetime | None
    start_day: str
    duration_minutes: int | None
    location: str
    location_text: str
    details: str
    encounter_id: str
    arrived_at: datetime | None
    booked_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class AppointmentCriteria:
    """A FHIR Appointment search: every field given must match; each tuple's values are ORed.

    ``dates`` are ANDed (``date=ge2024-01-01&date=lt2024-02-01``). ``after`` is
    the keyset of the last row of the previous page (start text, id); ``before``
    that of the first row of the next page, for the rows just before it.
    """

    patients: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    dates: tuple[DateRange, ...] = ()
    after: tuple[str, str] | None = None
    before: tuple[str, str] | None = None


class AppointmentView(TrackingRecorder, ABC):
    """What the appointments projection writes and the HTTP routes read."""

    @abstractmethod
    def save(self, record: AppointmentRecord, tracking: Tracking) -> None:
        """Inserts or replaces ``record`` with the tracking position, atomically."""

    @abstractmethod
    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        """Moves the retired patient's appointments to the survivor."""

    @abstractmethod
    def appointment(self, appointment_id: str) -> AppointmentRecord | None:
        """One appointment by id."""

    @abstractmethod
    def open_for(self, patient_id: str, location: str) -> list[AppointmentRecord]:
        """The patient's appointments at ``location`` an arrival may fulfil, by start time:
        OPEN ones, and those an SIU said arrived that no visit is linked to yet."""

    @abstractmethod
    def for_encounter(self, encounter_id: str) -> list[AppointmentRecord]:
        """The appointments the visit's arrival fulfilled."""

    @abstractmethod
    def expected(self, location: str, start: datetime, end: datetime) -> list[AppointmentRecord]:
        """Appointments at ``location`` starting in ``[start, end)``, but cancelled ones,
        by start time."""

    @abstractmethod
    def search(self, criteria: AppointmentCriteria, limit: int) -> list[AppointmentRecord]:
        """Up to ``limit`` matches, by start time then id: the first ones after
        ``criteria.after``, or the last ones before ``criteria.before``."""
