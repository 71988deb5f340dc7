"""Patient merges as a projection sees them: retired id -> survivor id, resolved at query time.

A read model that lists things per patient keeps its own copy of the merges it
learnt from ``Patient.Merged`` events (handlers stay pure: no repository
reads), and asks this module which patient ids a query for one patient covers.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["merged_group", "survivor_of"]


def survivor_of(patient_id: str, merges: Mapping[str, str]) -> str:
    """The patient ``patient_id`` lives on as after every merge (itself when never merged).

    A cycle (which the domain refuses, but a lookup must not hang on) stops at
    the first id seen twice.
    """
    seen = {patient_id}
    current = patient_id
    while (nxt := merges.get(current)) is not None and nxt not in seen:
        seen.add(nxt)
        current = nxt
    return current


def merged_group(patient_id: str, merges: Mapping[str, str]) -> frozenset[str]:
    """Every patient id whose records belong to ``patient_id``'s surviving patient.

    That is the survivor itself and every record retired into it, directly or
    through a chain of merges; asking for a retired id gives the same group.
    """
    survivor = survivor_of(patient_id, merges)
    ids = {survivor, patient_id}
    ids.update(r for r in merges if survivor_of(r, merges) == survivor)
    return frozenset(ids)
