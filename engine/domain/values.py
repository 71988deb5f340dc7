"""Value objects carried by domain events.

Events are stored as JSON, so every value here is a frozen dataclass of plain
strings with a registered transcoding (``engine.application.transcodings``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Identifier", "Location", "PersonName"]


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
