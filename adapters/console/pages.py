"""What the console's pages show, computed from the read models and the event store.

Kept apart from the routes (routes.py) so each page's content is a plain
function of its inputs, testable without HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.console.fields import FieldRow, segment_rows
from engine.application.rejections import raw_of
from engine.domain.message import InboundMessage
from engine.domain.rejected import RejectedMessage
from engine.errors import MessageRejectedError
from engine.hl7.message import parse_message
from projections.messages import LogEntry

__all__ = ["BoardRow", "MessagePage", "board_rows", "initials", "message_page", "ticket_of"]


@dataclass(frozen=True, slots=True)
class SegmentBlock:
    """One segment of the message page: its id, position and named fields."""

    segment_id: str
    position: int
    rows: list[FieldRow]


@dataclass(frozen=True, slots=True)
class MessagePage:
    """A message as its page shows it."""

    entry: LogEntry
    raw: str
    segments: list[SegmentBlock]
    faults: list[dict[str, Any]]
    ack_text: str
    events: list[str]


def message_page(entry: LogEntry, stored: Any, events: list[str]) -> MessagePage:
    """The page of ``entry`` from its stored aggregate (InboundMessage or RejectedMessage)."""
    faults: list[dict[str, Any]] = []
    ack_text = ""
    if isinstance(stored, RejectedMessage):
        raw = raw_of(stored.raw, stored.raw_b64).decode("utf-8", "replace")
        faults = list(stored.faults)
        ack_text = stored.ack_text
    elif isinstance(stored, InboundMessage):
        raw = stored.raw
    else:
        raw = ""
    faulted = {(str(f.get("segment_id", "")), int(f.get("field", 0))) for f in faults}
    blocks: list[SegmentBlock] = []
    try:
        msg = parse_message(raw)
    except MessageRejectedError:
        msg = None
    if msg is not None:
        version = msg.version
        sep = msg.field("MSH", 1) or "|"
        for position, segment in enumerate(_segments(raw, sep), start=1):
            rows = segment_rows(version, segment, faulted, sep)
            blocks.append(SegmentBlock(segment[0], position, rows))
    return MessagePage(entry, raw, blocks, faults, ack_text, events)


def _segments(raw: str, sep: str) -> list[list[str]]:
    lines = [line for line in re.split(r"\r\n|\r|\n", raw) if line.strip()]
    return [line.split(sep) for line in lines]


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One waiting patient on the board; ``name`` is empty on the waiting-room display."""

    position: int
    ticket: str
    name: str
    initials: str
    priority: str
    waited_minutes: int
    encounter_id: str = ""  # what the board's call button sends; not shown


def initials(family: str, given: str) -> str:
    """``J.D.``: what the waiting-room display shows instead of a name."""
    letters = [part[:1].upper() for part in (given, family) if part]
    return ".".join(letters) + ("." if letters else "")


def board_rows(entries: list[Any], patients: Any, *, display: bool) -> list[BoardRow]:
    """The queue's entries for the board; on the display no name and no visit number."""
    rows = []
    for entry in entries:
        record = patients.get_patient(entry.patient_id)
        family = record.name.family if record else ""
        given = record.name.given if record else ""
        ticket = ticket_of(entry.encounter_id)
        rows.append(
            BoardRow(
                position=entry.position,
                ticket=ticket,
                name="" if display else f"{family}, {given}".strip(", "),
                initials=initials(family, given),
                priority=entry.priority or "-",
                waited_minutes=int(entry.wait_seconds // 60),
                encounter_id="" if display else entry.encounter_id,
            )
        )
    return rows


def ticket_of(encounter_id: str) -> str:
    """A short ticket derived from the visit's id: identifies nobody outside the ward."""
    return encounter_id.replace("-", "")[:4].upper()


def fmt_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")
