"""SMART on FHIR scopes: which interactions on which resource types a token's scopes grant.

v2 syntax is ``context/Type.cruds`` (``patient``, ``user`` or ``system``
context; ``*`` for every type; any subset of the letters c r u d s). v1's
``.read``, ``.write`` and ``.*`` are taken as their v2 equivalents (``rs``,
``cud``, ``cruds``). A scope with a query (``?category=...``, SMART v2
granular scopes) narrows access in ways carelog does not evaluate, so it
grants nothing rather than more than it should. ``patient/`` scopes grant
access only within the compartment of the token's ``patient`` claim, and
nothing without one.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache

from adapters.security.principal import Principal

__all__ = ["INTERACTION_LETTER", "Reach", "SmartScope", "fhir_reach", "parse_scope"]

INTERACTION_LETTER = {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s"}
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]{0,63})\.(read|write|\*|[cruds]{1,5})")


class Reach(enum.Enum):
    """How far a grant goes: not at all, one patient's compartment, or everything."""

    NONE = 0
    COMPARTMENT = 1
    ALL = 2


@dataclass(frozen=True, slots=True)
class SmartScope:
    """One parsed SMART scope."""

    context: str  # patient | user | system
    resource_type: str  # a FHIR type or "*"
    letters: frozenset[str]


@lru_cache(maxsize=1024)
def parse_scope(text: str) -> SmartScope | None:
    """The SMART scope ``text`` is, None for anything else (a ``carelog/`` scope, a query)."""
    m = _SCOPE.fullmatch(text)
    if m is None:
        return None
    context, resource_type, permissions = m.groups()
    letters = _V1.get(permissions, permissions)
    if len(set(letters)) != len(letters):
        return None  # "rr": not a scope SMART defines
    return SmartScope(context, resource_type, frozenset(letters))


def fhir_reach(principal: Principal, resource_type: str, interaction: str) -> Reach:
    """How far ``principal``'s scopes let it do ``interaction`` on ``resource_type``.

    ``user/`` and ``system/`` scopes reach every patient; ``patient/`` scopes
    reach the compartment of ``principal.patient`` only (nothing without it).
    """
    letter = INTERACTION_LETTER.get(interaction)
    if letter is None:
        return Reach.NONE
    reach = Reach.NONE
    for text in principal.scopes:
        scope = parse_scope(text)
        if scope is None or letter not in scope.letters:
            continue
        if scope.resource_type not in ("*", resource_type):
            continue
        if scope.context in ("user", "system"):
            return Reach.ALL
        if principal.patient:
            reach = Reach.COMPARTMENT
    return reach


def may_write_somewhere(principal: Principal) -> bool:
    """Whether a ``user/`` or ``system/`` scope lets the principal create or update anything.

    The gate of a transaction or batch Bundle, before the handler checks each
    entry: a token that could not write any entry on its own gets no further.
    """
    return any(
        (s := parse_scope(text)) is not None
        and s.context != "patient"
        and bool(s.letters & {"c", "u"})
        for text in principal.scopes
    )
