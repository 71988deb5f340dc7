"""A received source as a value: what carelog keeps of every request that changed something.

STYLE 13, "The source of a change is a value": an HL7 v2 message and a FHIR
write both become an InboundMessage (raw text, SHA-256, when, from whom), and
every event they cause names it as ``source_message_id``. The history, the
seals and ``carelog history`` then treat both protocols alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID, uuid4

from engine.domain.ids import message_id_for

__all__ = ["ReceivedSource"]


@dataclass(frozen=True, slots=True)
class ReceivedSource:
    """One received request, before it is stored.

    ``source_id`` is derived from what identifies a resend (a Bundle's
    identifier, like MSH-3/4/10), so storing the same one twice conflicts and
    the resend changes nothing; without such an identifier it is unique.
    ``sender`` is the authenticated subject, else the peer address.
    """

    source_id: UUID
    kind: str  # e.g. "FHIR transaction", "FHIR PUT Patient"
    version: str  # the protocol version ("4.0.1")
    sender: str
    channel: str
    control_id: str  # what identifies a resend; the request hash when none
    raw: str
    sha256: str

    @classmethod
    def of(
        cls,
        raw: bytes,
        *,
        kind: str,
        version: str,
        sender: str,
        channel: str,
        resend_key: str = "",
    ) -> ReceivedSource:
        """A source for ``raw``: keyed by ``resend_key`` when given, else unique."""
        digest = hashlib.sha256(raw).hexdigest()
        if resend_key:
            source_id = message_id_for(channel, "", resend_key)
            control_id = resend_key
        else:
            source_id = uuid4()
            control_id = digest
        return cls(
            source_id=source_id,
            kind=kind,
            version=version,
            sender=sender,
            channel=channel,
            control_id=control_id,
            raw=raw.decode("utf-8", errors="replace"),
            sha256=digest,
        )
