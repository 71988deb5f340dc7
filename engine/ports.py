"""Protocols the core needs from the outside world, and the plain values they exchange.

The engine never imports an adapter or the native library; it asks for these
roles instead, and ``adapters/bootstrap.py`` plugs the real implementations in
(``native.NativeMessageValidator``) while tests plug in fakes (``tests/fakes.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

__all__ = ["BulkEventReader", "Clock", "Fault", "MessageValidator", "Severity"]

Severity = str  # "E" error, "W" warning, "I" information (HL7 table 0516)


@dataclass(frozen=True, slots=True)
class Fault:
    """One rule a message broke, located the way an ERR segment locates it.

    Positions are 1-based as in HL7 (``PID[1]-3.2``); 0 means "not applicable"
    (a fault about a whole segment has ``field == 0``). ``offset`` is the byte
    offset in the message where the fault was seen, for tools that show context.

    ``code`` is an HL7 table 0357 code (100 segment sequence, 101 required field
    missing, 102 data type, 103 table value, 200-203 unsupported type, event,
    processing id, version, 207 internal). ``fatal`` marks faults after which
    the message cannot be parsed at all (no MSH, bad separators); the engine
    answers those with AR rather than AE.
    """

    code: int
    rule: str
    text: str
    segment_id: str = ""
    segment_index: int = 0
    field: int = 0
    repetition: int = 0
    component: int = 0
    subcomponent: int = 0
    offset: int = 0
    severity: Severity = "E"
    fatal: bool = False

    def location(self) -> str:
        """``SEG[n]-F.C`` as `carelog validate` prints it (``MSH[1]-9.2``)."""
        if not self.segment_id:
            return f"@{self.offset}"
        text = f"{self.segment_id}[{self.segment_index}]"
        if self.field:
            text += f"-{self.field}"
            if self.component:
                text += f".{self.component}"
                if self.subcomponent:
                    text += f".{self.subcomponent}"
        return text


class MessageValidator(Protocol):
    """Checks a raw HL7 v2 message before anything else reads it.

    Implementations must be safe to call from several threads at once.
    """

    def validate(self, message: bytes) -> tuple[Fault, ...]:
        """Every fault found in ``message``; an empty tuple means valid."""
        ...

    def validate_many(self, messages: Sequence[bytes]) -> list[tuple[Fault, ...]]:
        """``validate`` for many messages in one call, to amortise per-call cost."""
        ...


class Clock(Protocol):
    """Where "now" comes from, so that tests can fix it."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


@runtime_checkable
class BulkEventReader(Protocol):
    """A recorder that reads the stored events of many aggregates in one round trip.

    Ingestion reads every patient and visit a batch of messages names with one
    call instead of one store read each. Recorders without it are read per id.
    """

    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[Any]:
        """The ``StoredEvent`` records of all those aggregates, each in version order."""
        ...

    def select_head_and_events(self, originator_ids: Sequence[UUID]) -> tuple[int, Sequence[Any]]:
        """The store's head position (0 when empty), then ``select_events_many``, in one go.

        Read on one connection in one round trip, the head first: ingestion
        checks its cache against the head before each batch (no ids: only the head).
        """
        ...
