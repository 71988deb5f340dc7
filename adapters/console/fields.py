"""HL7 names of segments' fields, from hl7apy's definitions: for the message page only.

Loaded lazily and cached per (version, segment): never on the ingestion path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["FieldRow", "field_names", "segment_rows"]

_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One non-empty field of a segment as the message page shows it."""

    ref: str  # PV1-19
    name: str  # Visit Number
    value: str
    faulted: bool = False


@functools.lru_cache(maxsize=256)
def field_names(version: str, segment: str) -> dict[int, str]:
    """Field number to its HL7 name (``Visit Number``); empty when hl7apy does not know it."""
    from hl7apy import load_library  # heavy import: only when a page needs it

    chosen = version if version in _VERSIONS else "2.5"
    try:
        library = load_library(chosen)
        definition = library.SEGMENTS[segment]
    except Exception:  # an unknown version or segment (Z-segments): numbers only
        return {}
    names: dict[int, str] = {}
    for child in definition[1]:
        ref, spec = child[0], child[1]
        try:
            number = int(str(ref).rsplit("_", 1)[1])
        except (IndexError, ValueError):
            continue
        names[number] = str(spec[3]).replace("_", " ").title()
    return names


def segment_rows(
    version: str, segment: list[str], faulted: set[tuple[str, int]], field_sep: str = "|"
) -> list[FieldRow]:
    """The non-empty fields of one segment (``segment[0]`` its id), named and fault-marked."""
    seg_id = segment[0]
    names = field_names(version, seg_id)
    rows = []
    offset = 1 if seg_id == "MSH" else 0  # MSH-1 is the separator itself
    if seg_id == "MSH":
        rows.append(FieldRow("MSH-1", names.get(1, ""), field_sep))
    for index, value in enumerate(segment[1:], start=1):
        number = index + offset
        if not value:
            continue
        faulted_here = (seg_id, number) in faulted
        rows.append(FieldRow(f"{seg_id}-{number}", names.get(number, ""), value, faulted_here))
    for seg, number in sorted(faulted):
        if seg == seg_id and not any(r.ref == f"{seg}-{number}" for r in rows):
            rows.append(FieldRow(f"{seg}-{number}", names.get(number, ""), "", True))
    return rows
