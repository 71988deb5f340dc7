"""The write interactions ``GET /fhir/metadata`` lists when the write routes are served."""

from __future__ import annotations

import copy
from typing import Any

from adapters.fhir.requests import WRITABLE

__all__ = ["with_writes"]

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
