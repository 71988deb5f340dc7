"""The Appointment aggregate: one booked slot of a patient (HL7 SIU, chapter 10).

Keyed by the scheduling system's appointment id (SCH-2 filler id, else SCH-1
placer id) and the sending facility, as visits are keyed by PV1-19. Command
methods check that the appointment is in a state the trigger fits and raise
InvalidTransitionError otherwise; the events only assign.

``status`` follows FHIR Appointment.status: booked, pending, waitlist,
arrived, fulfilled, cancelled, noshow. A message's SCH-25 filler status code
(HL7 table 0278) may say more than its trigger (an S14 saying ``Started``:
the patient arrived); ``status_for`` is that one mapping, shared with the
read model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from engine.domain.lean import create
from engine.domain.values import Coded, Location, Participant
from engine.errors import InvalidTransitionError

__all__ = [
    "ARRIVED",
    "BOOKED",
    "CANCELLED",
    "FULFILLED",
    "NOSHOW",
    "Appointment",
    "AppointmentDetails",
    "status_for",
]

BOOKED = "booked"
ARRIVED = "arrived"
FULFILLED = "fulfilled"
CANCELLED = "cancelled"
NOSHOW = "noshow"
CLOSED = frozenset({CANCELLED, NOSHOW, FULFILLED})
"""States after which the slot is over: no reschedule or change applies."""

# HL7 table 0278 (filler status codes, user-defined: compared case-insensitively) -> FHIR.
_FILLER_STATUS = {
    "booked": BOOKED,
    "overbook": BOOKED,
    "pending": "pending",
    "waitlist": "waitlist",
    "started": ARRIVED,
    "arrived": ARRIVED,  # not in 0278, but sent by feeds that mean it
    "complete": FULFILLED,
    "cancelled": CANCELLED,
    "deleted": CANCELLED,
    "dc": CANCELLED,
    "noshow": NOSHOW,
}


def status_for(filler_status: str, default: str) -> str:
    """The FHIR status an SCH-25 code says, else ``default`` (the trigger's own)."""
    return _FILLER_STATUS.get(filler_status.strip().lower(), default)


@dataclass(frozen=True, slots=True)
class AppointmentDetails:
    """What an SIU message says about the slot; empty is "not sent".

    ``start``/``end``: TQ1-7/8 (2.5+), else SCH-11.4/11.5, else the first AIL-6,
    AIP-6 or AIS-4. ``duration_minutes``: SCH-9/10, else AIL-9/10, else end - start.
    ``location``: the first AIL-3. ``resources``: every AIP-3 person, its role AIP-4.
    ``services``: every AIS-3. ``reason``: SCH-7 appointment reason, else SCH-6 event
    reason. ``appointment_type``: SCH-8. ``filler_status``: SCH-25.1 as sent.
    """

    start: datetime | None = None
    end: datetime | None = None
    duration_minutes: int | None = None
    location: Location = field(default_factory=Location)
    resources: tuple[Participant, ...] = ()
    services: tuple[Coded, ...] = ()
    reason: Coded | None = None
    appointment_type: Coded | None = None
    filler_status: str = ""

    def merged_over(self, old: AppointmentDetails) -> AppointmentDetails:
        """These details where sent, ``old``'s where not (an S14 may send only what changed).

        A new start without an end moves the end with it (the same duration).
        """
        start = self.start or old.start
        duration = self.duration_minutes or old.duration_minutes
        end = self.end or (None if self.start else old.end)
        if end is None and start is not None and duration:
            end = start + timedelta(minutes=duration)
        return AppointmentDetails(
            start=start,
            end=end,
            duration_minutes=duration,
            location=old.location if self.location.is_empty() else self.location,
            resources=self.resources or old.resources,
            services=self.services or old.services,
            reason=self.reason or old.reason,
            appointment_type=self.appointment_type or old.appointment_type,
            filler_status=self.filler_status or old.filler_status,
        )


class Appointment(Aggregate):
    """A scheduled appointment, from booking to arrival, cancellation or no-show."""

    class Booked(Aggregate.Created):
        """Emitted for a new appointment (S12). ``placer_id``/``filler_id``: SCH-1/SCH-2."""

        patient_id: UUID
        placer_id: str
        filler_id: str
        details: AppointmentDetails
        occurred_at: datetime
        source_message_id: UUID

    class Changed(Aggregate.Event):
        """Base of the events that change the slot; not emitted itself."""

        details: AppointmentDetails
        occurred_at: datetime
        source_message_id: UUID

        def apply(self, aggregate: Appointment) -> None:
            aggregate.details = self.details
            aggregate.status = status_for(self.details.filler_status, aggregate.status)

    class Rescheduled(Changed):
        """Emitted for S13: a new time (and whatever else the message says), same appointment."""

    class Modified(Changed):
        """Emitted for S14 (and an S12 repeated with other details): the slot's details changed."""

    class Cancelled(Aggregate.Event):
        """Emitted for S15: the appointment will not take place. ``reason``: SCH-6."""

        reason: Coded | None
        occurred_at: datetime
        source_message_id: UUID

        def apply(self, aggregate: Appointment) -> None:
            aggregate.status = CANCELLED

    class Arrived(Aggregate.Event):
        """Emitted when an SIU that says the patient arrived started the visit ``encounter_id``."""

        encounter_id: UUID
        occurred_at: datetime
        source_message_id: UUID

        def apply(self, aggregate: Appointment) -> None:
            aggregate.status = ARRIVED
            aggregate.encounter_id = self.encounter_id

    class NoShow(Aggregate.Event):
        """Emitted for S26: the patient did not come."""

        occurred_at: datetime
        source_message_id: UUID

        def apply(self, aggregate: Appointment) -> None:
            aggregate.status = NOSHOW

    def __init__(
        self,
        patient_id: UUID,
        placer_id: str,
        filler_id: str,
        details: AppointmentDetails,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.patient_id = patient_id
        self.placer_id = placer_id
        self.filler_id = filler_id
        self.details = details
        self.status = status_for(details.filler_status, BOOKED)
        self.encounter_id: UUID | None = None

    @classmethod
    def book(
        cls,
        appointment_id: UUID,
        *,
        patient_id: UUID,
        placer_id: str,
        filler_id: str,
        details: AppointmentDetails,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> Appointment:
        """A new appointment, booked by the message that first names it."""
        return create(
            cls,
            cls.Booked,
            appointment_id,
            patient_id=patient_id,
            placer_id=placer_id,
            filler_id=filler_id,
            details=details,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )

    def change(
        self,
        details: AppointmentDetails,
        *,
        rescheduled: bool,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> bool:
        """Records new details (S13 when ``rescheduled``, else S14); False if nothing changed.

        Raises:
            InvalidTransitionError: the appointment is cancelled, a no-show or fulfilled.
        """
        if self.status in CLOSED:
            raise InvalidTransitionError(
                f"the appointment is {self.status}: it can no longer be changed"
                " (book a new appointment with a new id)"
            )
        merged = details.merged_over(self.details)
        if merged == self.details and not rescheduled:
            return False
        kind = self.Rescheduled if rescheduled else self.Modified
        self.trigger_event(
            kind, details=merged, occurred_at=occurred_at, source_message_id=source_message_id
        )
        return True

    def cancel(
        self, reason: Coded | None, *, occurred_at: datetime, source_message_id: UUID
    ) -> bool:
        """S15; False (nothing to do) when already cancelled.

        Raises:
            InvalidTransitionError: the patient came (arrived, fulfilled) or did not (noshow).
        """
        return self._end(
            CANCELLED,
            (ARRIVED, FULFILLED, NOSHOW),
            "a cancellation",
            self.Cancelled,
            reason=reason,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )

    def arrive(self, encounter_id: UUID, *, occurred_at: datetime, source_message_id: UUID) -> None:
        """The visit this appointment's arrival started (an SIU said the patient arrived)."""
        self.trigger_event(
            self.Arrived,
            encounter_id=encounter_id,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )

    def no_show(self, *, occurred_at: datetime, source_message_id: UUID) -> bool:
        """S26; False (nothing to do) when already recorded as a no-show.

        Raises:
            InvalidTransitionError: the appointment was cancelled or the patient came.
        """
        return self._end(
            NOSHOW,
            (CANCELLED, ARRIVED, FULFILLED),
            "a no-show",
            self.NoShow,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )

    def _end(
        self, status: str, blocked: tuple[str, ...], what: str, event: type, **fields: Any
    ) -> bool:
        """Records ``event`` that ends the appointment in ``status``; False when it already
        is; InvalidTransitionError from a ``blocked`` status."""
        if self.status == status:
            return False
        if self.status in blocked:
            raise InvalidTransitionError(
                f"the appointment is {self.status}: {what} no longer applies"
            )
        self.trigger_event(event, **fields)
        return True
