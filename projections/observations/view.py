"""The observation read model: one row per OBX, as the latest results for its order say.

A report (one OBR, keyed by its order number) arrives with LabReport.Reported
and changes with LabReport.Updated; an observation in an update replaces the
one with the same OBX-3 code and OBX-1 set id (a correction), as the domain
does. NM values are kept as exact decimal text, never floats.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from eventsourcing.persistence import Tracking, TrackingRecorder

from engine.domain.values import Coded, ObservationValue

__all__ = ["ObservationRow", "ObservationView", "ReportRecord"]


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """One order's report (OBR): whose it is, what was ordered, its status."""

    report_id: str
    order_number: str
    patient_id: str
    encounter_id: str
    service: Coded
    status: str
    observed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ObservationRow:
    """One OBX with its report's context.

    ``values`` holds every OBX-5 repetition as text (CWE and SN values keep
    their ``^`` components); ``numeric`` is the exact value of an NM (or a
    plain SN number). ``observed_at`` is OBX-14, else the report's OBR-7.
    ``revision`` counts how often the observation was replaced (0 = as first sent).
    """

    report: ReportRecord
    set_id: str
    value_type: str
    code: Coded
    values: tuple[str, ...]
    numeric: Decimal | None
    comparator: str
    units: str
    reference_range: str
    abnormal_flags: tuple[str, ...]
    status: str
    observed_at: datetime | None
    updated_at: datetime
    source_message_id: str
    revision: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        """What a correction replaces by: OBX-3 code and system, OBX-1 set id."""
        return (self.code.code, self.code.system, self.set_id)


def observation_key(o: ObservationValue) -> tuple[str, str, str]:
    """The replace key of an OBX, as LabReport uses it."""
    return (o.code.code, o.code.system, o.set_id)


class ObservationView(TrackingRecorder, ABC):
    """Commands take a Tracking and apply atomically with it; queries return rows."""

    @abstractmethod
    def add_report(
        self,
        report: ReportRecord,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
        tracking: Tracking,
    ) -> None:
        """Adds a report and its observations (LabReport.Reported)."""

    @abstractmethod
    def update_report(
        self,
        report_id: str,
        status: str,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
        tracking: Tracking,
    ) -> None:
        """Sets the report's status; each observation replaces the one with its key."""

    @abstractmethod
    def record_merge(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        """Remembers that ``retired_id`` was merged into ``survivor_id`` (Patient.Merged)."""

    @abstractmethod
    def observations_of(self, patient_ids: Iterable[str]) -> list[ObservationRow]:
        """Every observation of these patients, by report then OBX order of arrival."""

    @abstractmethod
    def merges(self) -> dict[str, str]:
        """Every merge seen: retired patient id -> survivor id."""
