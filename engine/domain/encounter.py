"""The Encounter aggregate: one visit of a patient (HL7 PV1), from arrival to discharge.

Command methods check that the visit is in a state the trigger makes sense
for and raise InvalidTransitionError otherwise; the event methods only assign.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from engine.domain.lean import create
from engine.domain.values import EncounterDetails, Identifier, Location
from engine.errors import InvalidTransitionError

__all__ = ["Encounter"]

PLANNED = "planned"
IN_PROGRESS = "in-progress"
FINISHED = "finished"
CANCELLED = "cancelled"
INPATIENT = "I"  # PV1-2, HL7 table 0004


class Encounter(Aggregate):
    """A visit, keyed by its visit number (PV1-19) when the feed sends one.

    ``status`` follows FHIR Encounter.status: planned (pre-admitted),
    in-progress, finished (discharged), cancelled (admission cancelled).
    """

    class Started(Aggregate.Created):
        """Base of the events that open a visit; not emitted itself."""

        patient_id: UUID
        visit_number: Identifier | None
        patient_class: str
        location: Location
        admission_type: str
        priority: str
        started_at: datetime | None
        occurred_at: datetime
        source_message_id: UUID
        details: EncounterDetails

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 (before participants and service were kept) had no ``details``."""
            state["details"] = EncounterDetails()

    class Admitted(Started):
        """Emitted for an admit (A01): the patient is now an inpatient at ``location``."""

    class Registered(Started):
        """Emitted for a registration (A04): outpatient or emergency arrival."""

    class PreAdmitted(Started):
        """Emitted for a pre-admission (A05): the visit is planned, nobody has arrived."""

        def apply(self, aggregate: Encounter) -> None:
            aggregate.status = PLANNED

    class Arrived(Aggregate.Event):
        """Emitted when a pre-admitted visit starts (A01 or A04 after A05).

        ``patient_id`` names who arrived, so a read model can match the arrival
        to the patient's appointments as it does a visit's start; None in
        events recorded before it was kept (version 1).
        """

        admitted: bool
        patient_class: str
        location: Location
        started_at: datetime | None
        occurred_at: datetime
        source_message_id: UUID
        patient_id: UUID | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 did not name the patient."""
            state["patient_id"] = None

    class Transferred(Aggregate.Event):
        """Emitted for a transfer (A02): ``location`` is the new one, ``prior_location`` the old."""

        location: Location
        prior_location: Location
        occurred_at: datetime
        source_message_id: UUID

    class TransferCancelled(Aggregate.Event):
        """Emitted for a cancelled transfer (A12): the patient is back at ``location``."""

        location: Location
        cancelled_location: Location
        occurred_at: datetime
        source_message_id: UUID

    class Discharged(Aggregate.Event):
        """Emitted for a discharge (A03): the visit is finished; ``disposition`` is
        PV1-36 (table 0112), empty when not sent."""

        discharged_at: datetime | None
        occurred_at: datetime
        source_message_id: UUID
        disposition: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 (before PV1-36 was kept) had no ``disposition``."""
            state["disposition"] = ""

    class DischargeCancelled(Aggregate.Event):
        """Emitted for a cancelled discharge (A13): the visit is in progress again."""

        occurred_at: datetime
        source_message_id: UUID

    class AdmissionCancelled(Aggregate.Event):
        """Emitted for a cancelled admit or visit (A11): the visit never happened."""

        occurred_at: datetime
        source_message_id: UUID

    class ClassChanged(Aggregate.Event):
        """Emitted when the patient class changes (A06 outpatient to inpatient, A07 back)."""

        patient_class: str
        location: Location
        occurred_at: datetime
        source_message_id: UUID

    class InpatientAdmitted(Aggregate.Event):
        """Emitted when a visit under way as a non-inpatient one (A04, class O or E) is
        admitted: A01 or A06 on that visit, or a FHIR Encounter whose class becomes IMP.

        A class change to ``patient_class`` (I) at ``location`` that also
        restarts the visit's clock: ``admitted_at`` is the admission time
        (PV1-44, else when the event occurred). Not a ClassChanged subclass:
        eventsourcing rebuilds nested event classes, so such a subclass would
        derive from a class the projections never see.
        """

        patient_class: str
        location: Location
        admitted_at: datetime
        occurred_at: datetime
        source_message_id: UUID
        details: EncounterDetails

    class Called(Aggregate.Event):
        """Emitted when staff call the waiting patient into ``room`` (the console's board
        or ``POST /api/queue/{location}/call``): the visit is being seen there.

        ``called_by`` is the caller's principal subject (staff, not patient data);
        ``point_of_care`` the queue the patient was called from.
        """

        point_of_care: str
        room: str
        called_by: str
        occurred_at: datetime
        source_message_id: UUID

    class DetailsUpdated(Aggregate.Event):
        """Emitted when an update (A08 with PV1; a FHIR Encounter update) changes who
        is on the visit, its service or its discharge disposition.

        ``details`` is the whole new set; ``cleared`` names what the update
        deleted (HL7 ``""``, names from ``ENCOUNTER_CLEARABLE``) that the visit had.
        """

        details: EncounterDetails
        cleared: tuple[str, ...]
        occurred_at: datetime
        source_message_id: UUID

    def __init__(
        self,
        patient_id: UUID,
        visit_number: Identifier | None,
        patient_class: str,
        location: Location,
        admission_type: str,
        priority: str,
        started_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
        details: EncounterDetails,
    ) -> None:
        self.patient_id = patient_id
        self.details = details
        self.visit_number = visit_number
        self.patient_class = patient_class
        self.location = location
        self.prior_location = Location()
        self.admission_type = admission_type
        self.priority = priority
        self.started_at = started_at or occurred_at
        self.discharged_at: datetime | None = None
        self.status = IN_PROGRESS
        self.called_version = 0  # the version the last call made (0: never called)
        self.called_room = ""
        self.called_at: datetime | None = None

    @classmethod
    def start(
        cls,
        encounter_id: UUID,
        *,
        kind: type[Started],
        patient_id: UUID,
        visit_number: Identifier | None,
        patient_class: str,
        location: Location,
        admission_type: str,
        priority: str,
        started_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
        details: EncounterDetails | None = None,
    ) -> Encounter:
        """A new visit; ``kind`` is Admitted, Registered or PreAdmitted."""
        return create(
            cls,
            kind,
            encounter_id,
            patient_id=patient_id,
            visit_number=visit_number,
            patient_class=patient_class,
            location=location,
            admission_type=admission_type,
            priority=priority,
            started_at=started_at,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
            details=details or EncounterDetails(),
        )

    # Commands -------------------------------------------------------------

    def arrive(
        self,
        *,
        admitted: bool,
        patient_class: str,
        location: Location,
        started_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
        details: EncounterDetails | None = None,
        cleared: tuple[str, ...] = (),
    ) -> None:
        """Starts a planned visit; admits a visit under way as outpatient or emergency.

        On a visit in progress: an admit (A01) of a non-inpatient visit is its
        admission (``InpatientAdmitted``); a repeated admit or registration
        changes nothing; a registration (A04) naming a non-inpatient class for
        a visit already admitted is refused (A07 says that, not A04).

        Raises:
            InvalidTransitionError: the visit is finished or cancelled, or an A04
                would take an admitted visit back to outpatient or emergency.
        """
        if self.status == IN_PROGRESS:
            wanted = patient_class.upper()
            if admitted and self.patient_class.upper() != INPATIENT and wanted in ("", INPATIENT):
                self._admit(location, started_at, occurred_at, source_message_id, details, cleared)
            elif (
                not admitted
                and self.patient_class.upper() == INPATIENT
                and wanted
                not in (
                    "",
                    INPATIENT,
                )
            ):
                raise InvalidTransitionError(
                    f"the visit is already an inpatient admission; a registration (A04) of class"
                    f" {patient_class} does not change that (send A07 to change the class)"
                )
            return  # a repeated admit or registration of the same visit changes nothing
        self._require(PLANNED, "start")
        self._arrived(
            admitted,
            patient_class,
            location,
            started_at,
            occurred_at,
            source_message_id,
            self.patient_id,
        )

    def transfer(
        self, *, location: Location, occurred_at: datetime, source_message_id: UUID
    ) -> None:
        """Moves the patient to ``location``.

        Raises:
            InvalidTransitionError: the visit is not in progress.
        """
        self._require(IN_PROGRESS, "transfer")
        self._transferred(location, self.location, occurred_at, source_message_id)

    def cancel_transfer(
        self, *, location: Location, occurred_at: datetime, source_message_id: UUID
    ) -> None:
        """Undoes the last transfer: back to ``location`` when sent, else the prior location.

        Raises:
            InvalidTransitionError: the visit is not in progress or was never transferred.
        """
        self._require(IN_PROGRESS, "cancel a transfer of")
        if self.prior_location.is_empty():
            raise InvalidTransitionError("the visit has no transfer to cancel")
        back = location if not location.is_empty() else self.prior_location
        self._transfer_cancelled(back, self.location, occurred_at, source_message_id)

    def discharge(
        self,
        *,
        discharged_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
        disposition: str = "",
    ) -> None:
        """Ends the visit.

        Raises:
            InvalidTransitionError: the visit is not in progress.
        """
        self._require(IN_PROGRESS, "discharge")
        self._discharged(discharged_at or occurred_at, occurred_at, source_message_id, disposition)

    def cancel_discharge(self, *, occurred_at: datetime, source_message_id: UUID) -> None:
        """Reopens a discharged visit.

        Raises:
            InvalidTransitionError: the visit was not discharged.
        """
        self._require(FINISHED, "cancel the discharge of")
        self._discharge_cancelled(occurred_at, source_message_id)

    def cancel_admission(self, *, occurred_at: datetime, source_message_id: UUID) -> None:
        """Cancels a visit that is planned or in progress (never a discharged one).

        Raises:
            InvalidTransitionError: the visit is finished or already cancelled.
        """
        if self.status not in (PLANNED, IN_PROGRESS):
            raise InvalidTransitionError(
                f"cannot cancel the admission of a visit that is {self.status}"
                + ("; cancel the discharge first (A13)" if self.status == FINISHED else "")
            )
        self._admission_cancelled(occurred_at, source_message_id)

    def change_class(
        self,
        *,
        patient_class: str,
        location: Location,
        occurred_at: datetime,
        source_message_id: UUID,
        started_at: datetime | None = None,
        details: EncounterDetails | None = None,
        cleared: tuple[str, ...] = (),
    ) -> None:
        """Changes the patient class (A06/A07); the location moves too when sent.

        To inpatient from another class, it is the visit's admission
        (``InpatientAdmitted``, admitted at ``started_at`` when sent).

        Raises:
            InvalidTransitionError: the visit is not in progress.
        """
        self._require(IN_PROGRESS, "change the class of")
        new_location = location if not location.is_empty() else self.location
        if patient_class.upper() == INPATIENT and self.patient_class.upper() != INPATIENT:
            self._admit(location, started_at, occurred_at, source_message_id, details, cleared)
            return
        if (patient_class, new_location) != (self.patient_class, self.location):
            self._class_changed(patient_class, new_location, occurred_at, source_message_id)

    def call(
        self, *, room: str, called_by: str, occurred_at: datetime, source_message_id: UUID
    ) -> None:
        """Calls the patient into ``room``: being seen from now until the visit moves or ends.

        Raises:
            InvalidTransitionError: the visit is not in progress, or the last thing
                that happened to it was this same call (a second click, a race).
        """
        self._require(IN_PROGRESS, "call the patient of")
        if getattr(self, "called_version", 0) == self.version:
            raise InvalidTransitionError(
                f"the patient was already called to {self.called_room}; nothing changed since"
            )
        self._called(self.location.point_of_care, room, called_by, occurred_at, source_message_id)

    def _admit(
        self,
        location: Location,
        started_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
        details: EncounterDetails | None,
        cleared: tuple[str, ...] = (),
    ) -> None:
        new_location = location if not location.is_empty() else self.location
        sent = details or EncounterDetails()
        self._inpatient_admitted(
            INPATIENT,
            new_location,
            started_at or occurred_at,
            occurred_at,
            source_message_id,
            sent.merged_over(self.details.without(cleared)),
        )

    def update_details(
        self,
        *,
        details: EncounterDetails,
        cleared: tuple[str, ...] = (),
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        """Records who is on the visit, its service and disposition as an update says.

        Sent values replace, empty ones change nothing, ``cleared`` (HL7 ``""``)
        deletes; nothing is emitted when nothing changes. Any status: a
        discharged visit's disposition or attending doctor is corrected too.
        """
        new = details.merged_over(self.details.without(cleared))
        if new == self.details:
            return
        gone = tuple(
            c
            for c in cleared
            if self.details.without((c,)) != self.details and new.without((c,)) == new
        )
        self._details_updated(new, gone, occurred_at, source_message_id)

    def _require(self, status: str, action: str) -> None:
        if self.status != status:
            raise InvalidTransitionError(f"cannot {action} a visit that is {self.status}")

    # Events ---------------------------------------------------------------

    @event(Arrived)
    def _arrived(
        self,
        admitted: bool,
        patient_class: str,
        location: Location,
        started_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
        patient_id: UUID | None,
    ) -> None:
        self.status = IN_PROGRESS
        self.patient_class = patient_class or self.patient_class
        self.location = location if not location.is_empty() else self.location
        self.started_at = started_at or occurred_at

    @event(Transferred)
    def _transferred(
        self,
        location: Location,
        prior_location: Location,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.prior_location = prior_location
        self.location = location

    @event(TransferCancelled)
    def _transfer_cancelled(
        self,
        location: Location,
        cancelled_location: Location,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.location = location
        self.prior_location = Location()

    @event(Discharged)
    def _discharged(
        self,
        discharged_at: datetime | None,
        occurred_at: datetime,
        source_message_id: UUID,
        disposition: str,
    ) -> None:
        self.status = FINISHED
        self.discharged_at = discharged_at
        if disposition:
            self.details = EncounterDetails(
                self.details.participants, self.details.service, disposition
            )

    @event(DischargeCancelled)
    def _discharge_cancelled(self, occurred_at: datetime, source_message_id: UUID) -> None:
        self.status = IN_PROGRESS
        self.discharged_at = None

    @event(AdmissionCancelled)
    def _admission_cancelled(self, occurred_at: datetime, source_message_id: UUID) -> None:
        self.status = CANCELLED

    @event(ClassChanged)
    def _class_changed(
        self,
        patient_class: str,
        location: Location,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.patient_class = patient_class
        self.location = location

    @event(DetailsUpdated)
    def _details_updated(
        self,
        details: EncounterDetails,
        cleared: tuple[str, ...],
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.details = details

    @event(InpatientAdmitted)
    def _inpatient_admitted(
        self,
        patient_class: str,
        location: Location,
        admitted_at: datetime,
        occurred_at: datetime,
        source_message_id: UUID,
        details: EncounterDetails,
    ) -> None:
        self.patient_class = patient_class
        self.location = location
        self.started_at = admitted_at
        self.details = details

    @event(Called)
    def _called(
        self,
        point_of_care: str,
        room: str,
        called_by: str,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.called_room = room
        self.called_at = occurred_at
        self.called_version = self.version + 1  # this event's version (applied before the bump)
