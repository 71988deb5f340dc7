"""Deterministic aggregate ids, so that the same real-world thing always maps to one stream.

A resent message, a second A01 for a known MRN, or a second ingest process on
the same database all compute the same id; the store's uniqueness of
(aggregate id, version) then does the deduplication for free.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import sha1
from uuid import UUID, SafeUUID

from engine.domain.values import Identifier

__all__ = ["appointment_id_for", "encounter_id_for", "message_id_for", "patient_id_for"]

# Fixed namespace for carelog's name-based UUIDs; changing it re-keys every stream.
CARELOG_NAMESPACE = UUID("6f1c3a52-8e0b-4f57-9c59-1f2d0c8a4b11")


_NAMESPACE_BYTES = CARELOG_NAMESPACE.bytes
_VERSION_5 = (0x8000 << 48) | (5 << 76)  # RFC 4122 variant and version bits, as uuid5 sets them
_CLEAR = ~(0xC000 << 48) & ~(0xF000 << 64)


@lru_cache(maxsize=16384)
def _named(name: str) -> UUID:
    """``uuid5(CARELOG_NAMESPACE, name)``; memoised, since a batch derives the same ids repeatedly.

    Computed as uuid5 computes it (SHA-1 of namespace and UTF-8 name, then the
    version and variant bits) but without ``UUID.__init__``'s argument checks,
    which cost as much as the hash (tests/unit/test_ids.py compares with uuid5).
    """
    digest = sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()
    value = (int.from_bytes(digest[:16], "big") & _CLEAR) | _VERSION_5
    uuid = object.__new__(UUID)
    object.__setattr__(uuid, "int", value)
    object.__setattr__(uuid, "is_safe", SafeUUID.unknown)
    return uuid


def message_id_for(sending_application: str, sending_facility: str, control_id: str) -> UUID:
    """The id of an inbound message: HL7 says MSH-3, MSH-4 and MSH-10 identify it."""
    return _named(f"message\x1f{sending_application}\x1f{sending_facility}\x1f{control_id}")


def patient_id_for(identifier: Identifier) -> UUID:
    """The id of the patient that an identifier (value plus authority) names."""
    return _named(f"patient\x1f{identifier.key()}")


def encounter_id_for(visit_number: Identifier | None, fallback: UUID) -> UUID:
    """The id of a visit: from its visit number, else unique to ``fallback`` (the message)."""
    if visit_number is None or not visit_number.value:
        return _named(f"encounter\x1fmessage\x1f{fallback}")
    return _named(f"encounter\x1f{visit_number.key()}")


def appointment_id_for(sending_facility: str, key: str) -> UUID:
    """The id of an appointment: its SCH-2 filler (else SCH-1 placer) id, from that facility.

    ``key`` says which id it is (``filler\\x1f<id>^<namespace>``): a placer and a
    filler system may use the same numbers.
    """
    return _named(f"appointment\x1f{sending_facility}\x1f{key}")
