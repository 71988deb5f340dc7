"""The Patient aggregate: who a person is, as the feeds have told carelog.

Command methods (``register``, ``record_demographics``) decide; the event
methods they call only assign, because they run again on every rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from engine.domain.lean import create
from engine.domain.values import Identifier, PatientDetails, PersonName
from engine.errors import InvalidTransitionError

__all__ = ["Patient"]


class Patient(Aggregate):
    """A person known by one or more identifiers from assigning authorities."""

    class Registered(Aggregate.Created):
        """Emitted when a message first names a patient (any ADT carrying PID)."""

        identifiers: Sequence[Identifier]
        name: PersonName
        birth_date: str
        sex: str
        occurred_at: datetime
        source_message_id: UUID
        details: PatientDetails

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 (before other names, addresses, telecom, death) had no ``details``."""
            state["details"] = PatientDetails()

    class DemographicsUpdated(Aggregate.Event):
        """Emitted when a later message carries a different name, birth date, sex or
        details (``details`` is the whole new set, not only what changed).

        ``cleared`` names what the message deleted (HL7 ``""``) that the patient
        had: ``birth_date``, ``sex`` (then empty here) or names from
        ``PATIENT_CLEARABLE`` (absent from ``details``); the event says so
        rather than leaving it to be guessed.
        """

        name: PersonName
        birth_date: str
        sex: str
        occurred_at: datetime
        source_message_id: UUID
        details: PatientDetails
        cleared: tuple[str, ...]

        class_version = 3

        @staticmethod
        def upcast_v2_v3(state: dict[str, object]) -> None:
            """Version 2 (before HL7 ``""`` deleted details) deleted nothing."""
            state["cleared"] = ()

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 had no ``details``: an update then left them as they were.

            The aggregate and the read models treat an empty PatientDetails in
            an update as "none sent", which is what version 1 meant.
            """
            state["details"] = PatientDetails()

    class IdentifierAdded(Aggregate.Event):
        """Emitted when a message lists an identifier this patient did not have yet."""

        identifier: Identifier
        occurred_at: datetime
        source_message_id: UUID

    class Merged(Aggregate.Event):
        """Emitted on the retired record of a merge (A40): ``survivor_id`` is who it is now."""

        survivor_id: UUID
        occurred_at: datetime
        source_message_id: UUID

    class Absorbed(Aggregate.Event):
        """Emitted on the survivor of a merge (A40): ``retired_id`` lives on as this patient.

        ``identifiers`` are the retired record's identifiers this patient did not
        list yet; it lists them from now on as old ones (FHIR ``use: old``), and a
        search by one still finds it. Emitted even when there are none, since the
        merge changes what the survivor is: it gets a new version.
        """

        retired_id: UUID
        identifiers: Sequence[Identifier]
        occurred_at: datetime
        source_message_id: UUID

    def __init__(
        self,
        identifiers: Sequence[Identifier],
        name: PersonName,
        birth_date: str,
        sex: str,
        occurred_at: datetime,
        source_message_id: UUID,
        details: PatientDetails,
    ) -> None:
        self.identifiers = tuple(identifiers)
        self.name = name
        self.birth_date = birth_date
        self.sex = sex
        self.details = details
        self.last_occurred_at = occurred_at
        self.merged_into: UUID | None = None

    @classmethod
    def register(
        cls,
        patient_id: UUID,
        *,
        identifiers: Sequence[Identifier],
        name: PersonName,
        birth_date: str,
        sex: str,
        occurred_at: datetime,
        source_message_id: UUID,
        details: PatientDetails | None = None,
    ) -> Patient:
        """A new patient under the id derived from its primary identifier."""
        return create(
            cls,
            cls.Registered,
            patient_id,
            identifiers=tuple(identifiers),
            name=name,
            birth_date=birth_date,
            sex=sex,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
            details=details or PatientDetails(),
        )

    def record_demographics(
        self,
        *,
        identifiers: Sequence[Identifier],
        name: PersonName,
        birth_date: str,
        sex: str,
        occurred_at: datetime,
        source_message_id: UUID,
        details: PatientDetails | None = None,
        cleared: tuple[str, ...] = (),
    ) -> None:
        """Applies what a later message says about the patient, emitting only changes.

        Empty values mean "not sent" and change nothing; the details named in
        ``cleared`` (HL7 ``""``) are deleted, then what was sent applies.
        """
        self.add_identifiers(identifiers, occurred_at, source_message_id)
        new_name = name if name != PersonName() else self.name
        new_birth = birth_date or ("" if "birth_date" in cleared else self.birth_date)
        new_sex = sex or ("" if "sex" in cleared else self.sex)
        kept = self.details.without(cleared)
        new_details = (details or PatientDetails()).merged_over(kept)
        # Recorded only for what the patient had and what was sent did not replace.
        gone = tuple(
            c
            for c in cleared
            if self.details.without((c,)) != self.details
            and new_details.without((c,)) == new_details
        )
        gone = (
            *(
                c
                for c, old, new in (
                    ("birth_date", self.birth_date, new_birth),
                    ("sex", self.sex, new_sex),
                )
                if old and not new
            ),
            *gone,
        )
        old = (self.name, self.birth_date, self.sex, self.details)
        if (new_name, new_birth, new_sex, new_details) != old:
            self._update_demographics(
                new_name, new_birth, new_sex, occurred_at, source_message_id, new_details, gone
            )

    def add_identifiers(
        self, identifiers: Sequence[Identifier], occurred_at: datetime, source_message_id: UUID
    ) -> None:
        """Lists identifiers this patient did not have yet (a merge hands them over)."""
        known = {i.key() for i in self.identifiers}
        for identifier in identifiers:
            if identifier.value and identifier.key() not in known:
                self._add_identifier(identifier, occurred_at, source_message_id)
                known.add(identifier.key())

    def merge_into(self, survivor_id: UUID, occurred_at: datetime, source_message_id: UUID) -> None:
        """Retires this record in favour of ``survivor_id``; merging twice into it is a no-op.

        Raises:
            InvalidTransitionError: merged into itself, or already merged into someone else.
        """
        if survivor_id == self.id:
            raise InvalidTransitionError("a patient cannot be merged into itself")
        if self.merged_into == survivor_id:
            return
        if self.merged_into is not None:
            raise InvalidTransitionError("the patient was already merged into another patient")
        self._merged(survivor_id, occurred_at, source_message_id)

    def absorb(
        self,
        retired_id: UUID,
        identifiers: Sequence[Identifier],
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        """Takes over a retired record's identifiers (the survivor's side of a merge)."""
        known = {i.key() for i in self.identifiers}
        taken: list[Identifier] = []
        for identifier in identifiers:
            if identifier.value and identifier.key() not in known:
                taken.append(identifier)
                known.add(identifier.key())
        self._absorbed(retired_id, tuple(taken), occurred_at, source_message_id)

    @event(Absorbed)
    def _absorbed(
        self,
        retired_id: UUID,
        identifiers: Sequence[Identifier],
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.identifiers = (*self.identifiers, *identifiers)
        self.last_occurred_at = occurred_at

    @event(Merged)
    def _merged(self, survivor_id: UUID, occurred_at: datetime, source_message_id: UUID) -> None:
        self.merged_into = survivor_id

    @event(IdentifierAdded)
    def _add_identifier(
        self, identifier: Identifier, occurred_at: datetime, source_message_id: UUID
    ) -> None:
        self.identifiers = (*self.identifiers, identifier)

    @event(DemographicsUpdated)
    def _update_demographics(
        self,
        name: PersonName,
        birth_date: str,
        sex: str,
        occurred_at: datetime,
        source_message_id: UUID,
        details: PatientDetails,
        cleared: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.birth_date = birth_date
        self.sex = sex
        # Version 1 updates (upcast with empty details) left the details as they were;
        # later ones carry the whole new set, which is empty when all was deleted.
        self.details = details if cleared else details.merged_over(self.details)
        self.last_occurred_at = occurred_at
