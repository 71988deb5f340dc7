"""What ingesting one message came to, for the adapter to turn into an ACK."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from engine.hl7.message import Message
from engine.ports import Fault

__all__ = ["IngestOutcome"]


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """The answer to one message.

    ``ack_code`` is AA only once the message and all its events are committed.
    ``message`` is ``None`` when the header could not be read (the ACK is then
    built from the raw bytes). ``error_code`` is the 0357 code for an ERR that
    no fault locates. ``last_notification_id`` is the store position of the
    last event written, so a caller can wait for projections to reach it.
    ``rejected_id`` names the message log entry of a refused message (AE/AR).
    """

    ack_code: str
    message: Message | None
    raw: bytes
    faults: tuple[Fault, ...] = ()
    text: str = ""
    error_code: int = 0
    message_id: UUID | None = None
    duplicate: bool = False
    events_written: int = 0
    last_notification_id: int | None = None
    rejected_id: UUID | None = None

    @property
    def control_id(self) -> str:
        """MSH-10 of the message, ``""`` when unreadable (safe to log)."""
        return self.message.control_id if self.message else ""

    @property
    def message_type(self) -> str:
        """``ADT^A01`` style type of the message, ``""`` when unreadable (safe to log)."""
        if not self.message:
            return ""
        return f"{self.message.message_code}^{self.message.trigger_event}"
