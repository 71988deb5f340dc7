"""The authenticated caller of one request or one MLLP connection."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for, as the access log and the received-source records name it.

    ``subject`` is the token's ``sub`` (or a client certificate's name on MLLP);
    ``patient`` is the SMART launch context that limits ``patient/`` scopes.
    """

    subject: str
    client_id: str = ""
    token_id: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    patient: str | None = None
