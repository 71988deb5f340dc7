"""Value objects carried by domain events.

Events are stored as JSON, so every value here is a frozen dataclass of plain
values (str, Decimal, datetime, other values here) with a registered transcoding
(``engine.application.transcodings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = [
    "Coded",
    "FinancialTransaction",
    "Identifier",
    "Location",
    "Money",
    "ObservationValue",
    "PersonName",
]


@dataclass(frozen=True, slots=True)
class Identifier:
    """An identifier and who issued it (HL7 CX: ID, assigning authority, type code).

    ``authority`` is CX-4.1 (the namespace id, e.g. ``HOSP``); ``authority_id`` and
    ``authority_id_type`` are CX-4.2/4.3 (e.g. an OID and ``ISO``) when sent.
    """

    value: str
    authority: str = ""
    type_code: str = ""
    authority_id: str = ""
    authority_id_type: str = ""

    def key(self) -> str:
        """The identity of the identifier: same value from the same authority."""
        return f"{self.authority_id or self.authority}|{self.value}"


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person's name (HL7 XPN). ``use`` is XPN-7 name type (L legal, ...)."""

    family: str = ""
    given: str = ""
    middle: str = ""
    suffix: str = ""
    prefix: str = ""
    use: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a patient is (HL7 PL: point of care, room, bed, facility)."""

    point_of_care: str = ""
    room: str = ""
    bed: str = ""
    facility: str = ""

    def is_empty(self) -> bool:
        """True when no part of the location was sent."""
        return not (self.point_of_care or self.room or self.bed or self.facility)


@dataclass(frozen=True, slots=True)
class Coded:
    """A coded value (HL7 CWE/CE: identifier, text, coding system)."""

    code: str = ""
    text: str = ""
    system: str = ""


@dataclass(frozen=True, slots=True)
class ObservationValue:
    """One OBX: what was observed, its value(s), units, range, flags and status.

    ``values`` keeps every OBX-5 repetition as text; ``numeric`` is the value as a
    Decimal when OBX-2 is NM (or SN with a plain number), so arithmetic is exact.
    """

    set_id: str
    value_type: str
    code: Coded
    values: tuple[str, ...] = ()
    numeric: Decimal | None = None
    comparator: str = ""
    units: str = ""
    reference_range: str = ""
    abnormal_flags: tuple[str, ...] = ()
    status: str = ""
    observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Money:
    """An amount with its currency (HL7 CP/MO: ``136.10&USD``); never a float."""

    amount: Decimal
    currency: str = ""


@dataclass(frozen=True, slots=True)
class FinancialTransaction:
    """One FT1: a charge, credit, payment or adjustment on an account."""

    transaction_id: str
    transaction_type: str
    code: Coded
    description: str = ""
    quantity: Decimal = Decimal(1)
    extended_amount: Money | None = None
    unit_amount: Money | None = None
    diagnosis_codes: tuple[Coded, ...] = ()
    procedure_code: Coded | None = None
    transaction_date: datetime | None = None
