"""Reading the person data types of PID into domain values: XAD (address), XTN (telecom).

Like ``engine.hl7.datatypes``: each reader takes one repetition's raw text and
the message's separators and returns what can be read, never raising on data
the validator has let through.
"""

from __future__ import annotations

from engine.domain.values import Address, ContactPoint, Participant
from engine.hl7.message import Separators, components, subcomponent_of

__all__ = ["read_xad", "read_xcn", "read_xtn"]


def read_xad(text: str, seps: Separators) -> Address:
    """An XAD value (``street^other^city^state^zip^country^type``) as an Address.

    XAD-1 is an SAD from v2.3: its first subcomponent is the street line.
    """
    parts = components(text, seps)
    return Address(
        street=subcomponent_of(parts, seps, 1, 1),
        other=subcomponent_of(parts, seps, 2),
        city=subcomponent_of(parts, seps, 3),
        state=subcomponent_of(parts, seps, 4),
        postal_code=subcomponent_of(parts, seps, 5),
        country=subcomponent_of(parts, seps, 6),
        type=subcomponent_of(parts, seps, 7),
    )


def read_xtn(text: str, seps: Separators, default_use: str = "") -> ContactPoint:
    """An XTN value as a ContactPoint; ``value`` empty when the repetition holds no number.

    The number is XTN-1 as sent (deprecated from v2.6 but what most feeds use),
    else XTN-4 (e-mail), else XTN-12 (unformatted), else built from XTN-5 to
    XTN-8 (``+country area local xextension``). ``default_use`` stands in for
    an empty XTN-2 (PID-13 is home, PID-14 business).
    """
    parts = components(text, seps)

    def part(n: int) -> str:
        return subcomponent_of(parts, seps, n)

    value = part(1) or part(4) or part(12)
    if not value:
        country, area, local, extension = part(5), part(6), part(7), part(8)
        pieces = [f"+{country}" if country else "", area, local]
        value = " ".join(p for p in pieces if p) + (f" x{extension}" if extension else "")
    return ContactPoint(value=value, use=part(2) or default_use, equipment=part(3))


def read_xcn(text: str, seps: Separators, role: str) -> Participant:
    """An XCN value (``id^family^given``) as a Participant in ``role``.

    XCN-2 is an FN from v2.3 (its first subcomponent is the surname).
    """
    parts = components(text, seps)
    return Participant(
        role=role,
        id=subcomponent_of(parts, seps, 1),
        family=subcomponent_of(parts, seps, 2, 1),
        given=subcomponent_of(parts, seps, 3),
    )
