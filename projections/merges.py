"""Patient merges as a projection sees them: retired id -> survivor id, resolved at query time.

A read model that lists things per patient keeps its own copy of the merges it
learnt from ``Patient.Merged`` events (handlers stay pure: no repository
reads), and asks this module which patient ids a query for one patient covers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["merged_group", "record_merge", "record_merge_in", "survivor_of"]


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


def record_merge(merges: dict[str, str], retired_id: str, survivor_id: str) -> str | None:
    """Records that ``retired_id`` was merged into ``survivor_id``, every chain kept flat.

    Each retired id maps straight to its final survivor (so "B into C" after
    "A into B" also moves A), whatever order the merges arrive in. Returns that
    final survivor, or None for a merge that would close a cycle (nothing recorded).
    """
    final = merges.get(survivor_id, survivor_id)
    if final == retired_id:
        return None
    merges[retired_id] = final
    for retired, survivor in list(merges.items()):
        if survivor == retired_id:
            merges[retired] = final
    return final


def record_merge_in(
    cursor: Any, sql: Callable[[str], str], table: str, retired_id: str, survivor_id: str
) -> str | None:
    """``record_merge`` on a SQL table ``(retired_id, survivor_id)``, through ``cursor``.

    ``sql`` puts the backend's parameter markers in place of ``?``.
    """
    cursor.execute(sql(f"SELECT survivor_id FROM {table} WHERE retired_id=?"), (survivor_id,))
    row = cursor.fetchone()
    final = str(row["survivor_id"]) if row else survivor_id
    if final == retired_id:
        return None
    cursor.execute(
        sql(
            f"INSERT INTO {table} VALUES (?,?) "
            "ON CONFLICT (retired_id) DO UPDATE SET survivor_id=excluded.survivor_id"
        ),
        (retired_id, final),
    )
    cursor.execute(
        sql(f"UPDATE {table} SET survivor_id=? WHERE survivor_id=?"), (final, retired_id)
    )
    return final
