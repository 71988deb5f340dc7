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
from decimal import Decimal, InvalidOperation
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.persistence import Tracking, TrackingRecorder

from engine.domain.values import Coded, ObservationValue

__all__ = [
    "ObservationRow",
    "ObservationView",
    "ReportRecord",
    "TypedValue",
    "observation_resource_id",
    "typed_value",
]

_CODED_TYPES = ("CWE", "CE", "CNE", "CF")


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
    updated_at: datetime | None = None  # the latest LabReport event's time
    source_message_id: str = ""  # the message of that event


@dataclass(frozen=True, slots=True)
class ObservationRow:
    """One OBX with its report's context.

    ``values`` holds every OBX-5 repetition as text (CWE and SN values keep
    their ``^`` components); ``numeric`` is the exact value of an NM (or a
    plain SN number). ``observed_at`` is OBX-14, else the report's OBR-7.
    ``revision`` counts how often the observation was replaced (0 = as first sent).
    ``coded`` is a CWE/CE value's first repetition as a code; ``sn_*`` are an SN
    value's parts (comparator is ``comparator``), see ``typed_value``.
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
    coded: Coded | None = None
    sn_num1: Decimal | None = None
    sn_separator: str = ""
    sn_num2: Decimal | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """What a correction replaces by: OBX-3 code and system, OBX-1 set id."""
        return (self.code.code, self.code.system, self.set_id)


@dataclass(frozen=True, slots=True)
class TypedValue:
    """What OBX-5 holds beyond its text, by OBX-2: a code, or an SN's parts."""

    coded: Coded | None = None
    sn_num1: Decimal | None = None
    sn_separator: str = ""
    sn_num2: Decimal | None = None


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip()) if text.strip() else None
    except InvalidOperation:
        return None


def typed_value(value_type: str, values: Sequence[str]) -> TypedValue:
    """CWE/CE ``code^text^system`` and SN ``comparator^num1^separator^num2`` split up.

    The domain keeps OBX-5 repetitions as unescaped text, so components are
    split on ``^``, the default component separator (a feed using another one
    gets the whole text as the code). A number that does not parse is None.
    """
    if not values or not values[0]:
        return TypedValue()
    kind = value_type.upper()
    parts = [*values[0].split("^"), "", "", "", ""]
    if kind in _CODED_TYPES:
        return TypedValue(coded=Coded(parts[0], parts[1], parts[2]))
    if kind == "SN":
        return TypedValue(
            sn_num1=_number(parts[1]), sn_separator=parts[2], sn_num2=_number(parts[3])
        )
    return TypedValue()


def observation_key(o: ObservationValue) -> tuple[str, str, str]:
    """The replace key of an OBX, as LabReport uses it."""
    return (o.code.code, o.code.system, o.set_id)


def observation_resource_id(report_id: str, key: tuple[str, str, str]) -> str:
    """The stable FHIR id of one OBX: its report and what corrections replace by.

    Stored with the row (``observation_id``) so a read by id is one indexed
    lookup; the FHIR write path computes the same id for what it creates.
    """
    text = "\x1f".join((report_id, *key))
    return str(uuid5(NAMESPACE_URL, f"urn:carelog:observation:{text}"))


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
    def observation(self, observation_id: str) -> ObservationRow | None:
        """One observation by its FHIR id (``observation_resource_id``), None if unknown."""

    @abstractmethod
    def reports_of(self, patient_ids: Iterable[str]) -> list[ReportRecord]:
        """Every report (OBR) of these patients, by order number (DiagnosticReport search)."""

    @abstractmethod
    def report(self, report_id: str) -> ReportRecord | None:
        """One report by id, None if unknown (DiagnosticReport read)."""

    @abstractmethod
    def merges(self) -> dict[str, str]:
        """Every merge seen: retired patient id -> survivor id."""
