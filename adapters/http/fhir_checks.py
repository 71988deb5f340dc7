"""Predicates over a served FHIR resource, for the searches that filter a patient's rows.

A compartment search (one patient's visits, results, reports, charges) first
finds the rows through an index, then judges each parameter on the resource
as served, so a match is exactly what the client sees. These are the pieces
every such search shares: OR over a value's alternatives, ``status``, and
``identifier`` (``[system|]value``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

__all__ = ["Check", "any_of", "identifier_check", "identifier_token", "status_check"]

Check = Callable[[dict[str, Any]], bool]


def any_of(alternatives: list[Check]) -> Check:
    """Whether any of ``alternatives`` holds (a comma-separated value: OR)."""
    return lambda resource: any(c(resource) for c in alternatives)


def status_check(value: str, served: Collection[str], kind: str) -> Check:
    """``status`` (comma = OR) on the resource; ValueError when a code is not ``kind``'s."""
    asked = {v for v in value.split(",") if v}
    if not asked or asked - set(served):
        raise ValueError(f"unknown {kind} status in {value!r}")
    return lambda resource: resource.get("status") in asked


def identifier_token(value: str) -> tuple[str, str | None]:
    """An ``identifier`` value as (value, system or None when no ``|``); ValueError when empty."""
    system, bar, wanted = value.rpartition("|")
    if not wanted:
        raise ValueError("identifier needs [system|]value")
    return wanted, (system if bar else None)


def identifier_check(value: str) -> Check:
    """``identifier`` on the resource: the value, and the system when one is given
    (``|value`` asks for an identifier without a system)."""
    wanted, system = identifier_token(value)

    def check(resource: dict[str, Any]) -> bool:
        return any(
            i.get("value") == wanted and (system is None or i.get("system", "") == system)
            for i in resource.get("identifier", [])
        )

    return check
