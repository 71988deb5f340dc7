"""Reading HL7 v2 data types into domain values: DTM/TS, DT, CX, XPN, PL.

Each reader takes the raw text of one field (or one repetition) and the
message's separators, and returns a domain value; none of them raise on data
the validator has let through, they return what can be read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache

from engine.domain.values import Coded, Identifier, Location, Money, PersonName
from engine.hl7.message import Separators, components, subcomponent_of

__all__ = [
    "read_cwe",
    "read_cx",
    "read_date",
    "read_datetime",
    "read_decimal",
    "read_money",
    "read_pl",
    "read_xpn",
]

_NM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")

_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$")


def read_datetime(text: str, default_tz: tzinfo = UTC) -> datetime | None:
    """An HL7 DTM/TS value as an aware datetime; ``None`` when empty or unreadable.

    A value without an offset is taken in ``default_tz`` (the sender's site time
    zone, configured), since HL7 leaves it to the site. Precision below the
    stated one is filled with the start of the period (``2024`` -> Jan 1 00:00).
    """
    text = text.split("^", 1)[0].strip()  # TS carries a degree of precision in .2
    m = _DTM.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    tz: tzinfo = default_tz
    if offset:
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    try:
        return datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError:
        return None


def read_date(text: str) -> str:
    """An HL7 DT (or the date part of a DTM) as a FHIR date: ``1980``, ``1980-01`` or
    ``1980-01-31``; ``""`` when empty or unreadable. Partial dates stay partial.
    """
    digits = text.split("^", 1)[0].strip()[:8]
    if not digits.isdigit() or len(digits) not in (4, 6, 8):
        return ""
    parts = [digits[0:4], digits[4:6], digits[6:8]]
    return "-".join(p for p in parts if p)


def _plain_parts(text: str, seps: Separators, count: int) -> list[str] | None:
    """The first ``count`` components of a field with neither subcomponents nor escapes.

    Most values are plain: each component is then its own unescaped value, and
    the readers pick them straight from one split (padded with ``""``) instead
    of resolving every one through ``subcomponent_of``. ``None``: not plain.
    """
    if seps.subcomponent in text or seps.escape in text:
        return None
    parts = components(text, seps)
    if len(parts) < count:
        parts += [""] * (count - len(parts))
    return parts


@lru_cache(maxsize=4096)
def read_cx(text: str, seps: Separators) -> Identifier:
    """A CX value (``id^check^scheme^authority^type``) as an Identifier.

    Memoised (a pure function of frozen values): ingestion reads a message's
    PID-3 and PV1-19 once to prefetch what it names and again in the handler.
    """
    plain = _plain_parts(text, seps, 5)
    if plain is not None:
        return Identifier(plain[0], plain[3], plain[4], "", "")
    parts = components(text, seps)
    return Identifier(
        value=subcomponent_of(parts, seps, 1),
        authority=subcomponent_of(parts, seps, 4, 1),
        type_code=subcomponent_of(parts, seps, 5),
        authority_id=subcomponent_of(parts, seps, 4, 2),
        authority_id_type=subcomponent_of(parts, seps, 4, 3),
    )


def read_xpn(text: str, seps: Separators) -> PersonName:
    """An XPN value (``family^given^middle^suffix^prefix^degree^type``) as a PersonName.

    From v2.3 the family name is an FN whose first subcomponent is the surname.
    """
    plain = _plain_parts(text, seps, 7)
    if plain is not None:
        return PersonName(plain[0], plain[1], plain[2], plain[3], plain[4], plain[6])
    parts = components(text, seps)
    return PersonName(
        family=subcomponent_of(parts, seps, 1, 1),
        given=subcomponent_of(parts, seps, 2),
        middle=subcomponent_of(parts, seps, 3),
        suffix=subcomponent_of(parts, seps, 4),
        prefix=subcomponent_of(parts, seps, 5),
        use=subcomponent_of(parts, seps, 7),
    )


def read_pl(text: str, seps: Separators) -> Location:
    """A PL value (``point of care^room^bed^facility``) as a Location."""
    plain = _plain_parts(text, seps, 4)
    if plain is not None:
        return Location(plain[0], plain[1], plain[2], plain[3])
    parts = components(text, seps)
    return Location(
        point_of_care=subcomponent_of(parts, seps, 1),
        room=subcomponent_of(parts, seps, 2),
        bed=subcomponent_of(parts, seps, 3),
        facility=subcomponent_of(parts, seps, 4, 1),
    )


def read_cwe(text: str, seps: Separators) -> Coded:
    """A CWE/CE value (``code^text^system``) as a Coded."""
    plain = _plain_parts(text, seps, 3)
    if plain is not None:
        return Coded(plain[0], plain[1], plain[2])
    parts = components(text, seps)
    return Coded(
        code=subcomponent_of(parts, seps, 1),
        text=subcomponent_of(parts, seps, 2),
        system=subcomponent_of(parts, seps, 3),
    )


def read_decimal(text: str) -> Decimal | None:
    """An NM value as a Decimal; ``None`` when empty. Never a float.

    Raises:
        ValueError: the text is not a number (the caller locates the fault).
    """
    text = text.strip()
    if not text:
        return None
    if not _NM.match(text):
        raise ValueError(f"{text!r} is not a number")
    return Decimal(text)


def read_money(text: str, seps: Separators) -> Money | None:
    """A CP/MO amount (``136.10&USD``, or ``136.10^USD`` in MO) as Money; ``None`` when empty.

    Raises:
        ValueError: the amount is not a number.
    """
    components = text.split(seps.component)
    first = components[0]
    if seps.subcomponent in first:  # CP: price^type..., the price as amount&currency
        amount_text, _, currency = first.partition(seps.subcomponent)
    else:  # MO: amount^currency
        amount_text, currency = first, components[1] if len(components) > 1 else ""
    amount = read_decimal(seps.unescape(amount_text))
    if amount is None:
        return None
    return Money(amount, seps.unescape(currency))
