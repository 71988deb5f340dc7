"""The write interactions ``GET /fhir/metadata`` lists when the write routes are served."""

from __future__ import annotations

import copy
from typing import Any

from adapters.fhir.requests import WRITABLE

__all__ = ["HISTORY_TYPES", "with_history", "with_writes"]

_WRITES = [{"code": "create"}, {"code": "update"}]


def with_writes(statement: dict[str, Any]) -> dict[str, Any]:
    """``statement`` plus create/update (conditional by identifier) and transaction/batch."""
    out = copy.deepcopy(statement)
    rest = out["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    for kind in WRITABLE:
        resource = by_type.get(kind)
        if resource is None:
            resource = {"type": kind, "interaction": []}
            rest["resource"].append(resource)
        resource["interaction"] = [*resource["interaction"], *_WRITES]
        resource["versioning"] = "versioned-update"
        resource["conditionalCreate"] = True
        resource["conditionalUpdate"] = True
        resource["updateCreate"] = False
        resource["conditionalDelete"] = "not-supported"
    rest["interaction"] = [{"code": "transaction"}, {"code": "batch"}]
    return out


HISTORY_TYPES = ("Patient", "Encounter")
"""The types with vread and instance ``_history`` (adapters/http/fhir_history.py)."""


def with_history(statement: dict[str, Any]) -> dict[str, Any]:
    """``statement`` plus vread and history-instance on HISTORY_TYPES (every version kept)."""
    out = copy.deepcopy(statement)
    for resource in out["rest"][0]["resource"]:
        if resource["type"] in HISTORY_TYPES:
            codes = [{"code": "vread"}, {"code": "history-instance"}]
            resource["interaction"] = [*resource["interaction"], *codes]
            resource.setdefault("versioning", "versioned")
    return out
