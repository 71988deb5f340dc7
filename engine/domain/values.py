"""Value objects carried by domain events.

Events are stored as JSON, so every value here is a frozen dataclass of plain
values (str, Decimal, datetime, other values here) with a registered transcoding
(``engine.application.transcodings``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "ENCOUNTER_CLEARABLE",
    "PATIENT_CLEARABLE",
    "Address",
    "Coded",
    "ContactPoint",
    "EncounterDetails",
    "FinancialTransaction",
    "Identifier",
    "Location",
    "Money",
    "ObservationValue",
    "Participant",
    "PatientDetails",
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
class Address:
    """A postal address (HL7 XAD). ``type`` is XAD-7 (table 0190: H home, B business,
    M mailing, C current, P permanent, BA bad address...)."""

    street: str = ""
    other: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    type: str = ""


@dataclass(frozen=True, slots=True)
class ContactPoint:
    """A phone number or e-mail address (HL7 XTN).

    ``use`` is XTN-2 (table 0201: PRN primary residence, WPN work, ORN other
    residence, VHN vacation, ASN answering service, EMR emergency, NET network,
    BPN beeper); ``equipment`` is XTN-3 (table 0202: PH telephone, FX fax, MD
    modem, CP cellular, BP beeper, Internet, X.400, TDD, TTY). ``value`` is the
    number as sent (XTN-1, else built from XTN-5 to XTN-8) or the address (XTN-4).
    """

    value: str
    use: str = ""
    equipment: str = ""


@dataclass(frozen=True, slots=True)
class PatientDetails:
    """What PID says beyond identifiers, the first name, birth date and sex.

    ``other_names`` are PID-5's later repetitions (the first is the patient's
    ``name``); ``addresses`` PID-11; ``telecom`` PID-13 then PID-14;
    ``deceased`` PID-30 (Y/N, empty when not sent) and ``deceased_at`` PID-29;
    ``language`` PID-15 and ``marital_status`` PID-16 (coded: HL7 table 0296
    or ISO 639 / table 0002); ``multiple_birth`` PID-24 (Y/N) and
    ``birth_order`` PID-25. Empty means "not sent" in an update, as for the
    other PID fields.
    """

    other_names: tuple[PersonName, ...] = ()
    addresses: tuple[Address, ...] = ()
    telecom: tuple[ContactPoint, ...] = ()
    deceased: str = ""
    deceased_at: datetime | None = None
    language: Coded | None = None
    marital_status: Coded | None = None
    multiple_birth: str = ""
    birth_order: str = ""

    def merged_over(self, old: PatientDetails) -> PatientDetails:
        """These details where sent, ``old``'s where not (an update's "not sent")."""
        return PatientDetails(
            **{f.name: getattr(self, f.name) or getattr(old, f.name) for f in fields(self)}
        )

    def without(self, cleared: tuple[str, ...]) -> PatientDetails:
        """These details with the ones named in ``cleared`` (PATIENT_CLEARABLE) removed.

        HL7 ``""`` deletes a value in an update; an empty field leaves it as it
        was. PID-13 and PID-14 share ``telecom``: ``home_telecom`` removes the
        numbers not marked work (WPN), ``business_telecom`` the work ones.
        """
        if not cleared:
            return self
        telecom = tuple(
            t
            for t in self.telecom
            if ("business_telecom" if t.use == "WPN" else "home_telecom") not in cleared
        )
        emptied: dict[str, Any] = {f.name: f.default for f in fields(self) if f.name in cleared}
        return replace(self, telecom=telecom, **emptied)


PATIENT_CLEARABLE = (
    "other_names",
    "addresses",
    "home_telecom",
    "business_telecom",
    "language",
    "marital_status",
    "multiple_birth",
    "birth_order",
    "deceased_at",
    "deceased",
)
"""The PatientDetails an update can delete (HL7 ``""``), named as events record them."""


@dataclass(frozen=True, slots=True)
class Participant:
    """A doctor on a visit (HL7 XCN: id ^ family ^ given) in a role.

    ``role`` is the FHIR v3-ParticipationType code the v2-to-FHIR IG gives the
    PV1 field: ATND attending (PV1-7), REF referring (PV1-8), CON consulting
    (PV1-9), ADM admitting (PV1-17).
    """

    role: str
    id: str = ""
    family: str = ""
    given: str = ""


@dataclass(frozen=True, slots=True)
class EncounterDetails:
    """What PV1 says about a visit beyond class, location and times.

    ``participants`` PV1-7/8/9/17 (every repetition); ``service`` PV1-10
    hospital service (table 0069); ``disposition`` PV1-36 discharge
    disposition (table 0112), sent with the discharge. Empty is "not sent".
    """

    participants: tuple[Participant, ...] = ()
    service: str = ""
    disposition: str = ""

    def merged_over(self, old: EncounterDetails) -> EncounterDetails:
        """These details where sent, ``old``'s where not."""
        return EncounterDetails(
            participants=self.participants or old.participants,
            service=self.service or old.service,
            disposition=self.disposition or old.disposition,
        )

    def without(self, cleared: tuple[str, ...]) -> EncounterDetails:
        """These details with the ones named in ``cleared`` (ENCOUNTER_CLEARABLE) removed:
        ``participant:<role>`` every participant in that role, ``service``,
        ``disposition`` (HL7 ``""`` in PV1-7/8/9/17, PV1-10, PV1-36)."""
        if not cleared:
            return self
        return EncounterDetails(
            participants=tuple(
                p for p in self.participants if f"participant:{p.role}" not in cleared
            ),
            service="" if "service" in cleared else self.service,
            disposition="" if "disposition" in cleared else self.disposition,
        )


ENCOUNTER_CLEARABLE = (
    "participant:ATND",
    "participant:REF",
    "participant:CON",
    "participant:ADM",
    "service",
    "disposition",
)
"""The EncounterDetails an update can delete (HL7 ``""``), named as events record them."""


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
