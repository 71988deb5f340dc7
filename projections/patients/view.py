"""The patient index read model: what a patient query needs, kept per backend.

A view is a TrackingRecorder: each command writes its rows and the tracking
position in one transaction, so an event is applied exactly once even if the
runner crashes between the two, and a second delivery fails with IntegrityError.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from eventsourcing.persistence import Tracking, TrackingRecorder

from engine.domain.values import Identifier, PatientDetails, PersonName
from projections.patients.search import PatientCriteria, search_key

__all__ = ["PatientRecord", "PatientView", "sort_value"]


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """One patient as the index shows it."""

    patient_id: str
    name: PersonName
    birth_date: str
    sex: str
    updated_at: datetime
    identifiers: tuple[Identifier, ...] = field(default=())
    merged_into: str = ""  # the surviving patient's id once this record was merged
    details: PatientDetails = field(default_factory=PatientDetails)
    # Identifier.key() of the identifiers taken over from merged-away records (FHIR use old)
    old_identifiers: frozenset[str] = field(default=frozenset())


def sort_value(record: PatientRecord, sort: str) -> str:
    """The value ``record`` is ordered by under ``_sort=sort`` (what a keyset cursor holds)."""
    if sort == "family":
        return search_key(record.name.family)
    if sort == "birthdate":
        return record.birth_date
    if sort == "_lastUpdated":
        return record.updated_at.isoformat()
    return record.patient_id


class PatientView(TrackingRecorder, ABC):
    """Commands take a Tracking and apply atomically with it; queries return records."""

    @abstractmethod
    def register_patient(
        self,
        patient_id: str,
        identifiers: Sequence[Identifier],
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
        details: PatientDetails | None = None,
    ) -> None:
        """Adds a patient with its identifiers (and its other names, addresses...)."""

    @abstractmethod
    def update_demographics(
        self,
        patient_id: str,
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
        details: PatientDetails | None = None,
    ) -> None:
        """Replaces a patient's name, birth date and sex, and its details unless None."""

    @abstractmethod
    def add_identifier(
        self,
        patient_id: str,
        identifier: Identifier,
        tracking: Tracking,
        updated_at: datetime | None = None,
    ) -> None:
        """Lists one more identifier for a patient (its last change moves to ``updated_at``)."""

    @abstractmethod
    def absorb(
        self,
        patient_id: str,
        retired_id: str,
        identifiers: Sequence[Identifier],
        updated_at: datetime,
        tracking: Tracking,
    ) -> None:
        """A merge's survivor: lists the retired record's ``identifiers`` as old ones
        (they still find it) and moves its last change to ``updated_at``."""

    @abstractmethod
    def mark_merged(
        self, patient_id: str, survivor_id: str, updated_at: datetime, tracking: Tracking
    ) -> None:
        """Records that a patient was merged into ``survivor_id``."""

    @abstractmethod
    def get_patient(self, patient_id: str) -> PatientRecord | None:
        """The patient, or None when unknown."""

    @abstractmethod
    def find_by_identifier(self, value: str, authority: str | None = None) -> list[PatientRecord]:
        """Patients holding identifier ``value``, optionally only from ``authority``.

        ``authority`` matches either the namespace id (CX-4.1) or the universal
        id (CX-4.2, e.g. an OID) of the assigning authority.
        """

    @abstractmethod
    def search(self, criteria: PatientCriteria, limit: int) -> list[PatientRecord]:
        """Up to ``limit`` patients matching ``criteria``, in its keyset's order from its cursor.

        A ``backward`` keyset gives the ``limit`` rows just before the cursor,
        still in the keyset's order.
        """

    @abstractmethod
    def count(self, criteria: PatientCriteria) -> int:
        """How many patients match ``criteria`` (wherever its keyset's cursor is)."""
