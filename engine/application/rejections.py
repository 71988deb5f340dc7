"""Rejected messages into the message log: the events ingestion stores for AE and AR answers.

Ingestion decides a batch, then calls ``record_rejections`` with each outcome:
the refused ones become ``RejectedMessage`` aggregates whose events are saved
in the same commit as the accepted messages' events (the writer's single
commit path), so the log and the ACKs agree. They touch no patient or visit.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from engine.application.outcome import IngestOutcome
from engine.domain.rejected import RejectedMessage
from engine.hl7.message import decode_bytes
from engine.ports import Fault

__all__ = [
    "BEFORE_ENGINE",
    "cause_of",
    "fault_dicts",
    "raw_of",
    "record_rejections",
    "refused_frame",
    "rejection",
    "reprocess_channel",
    "reprocess_of",
    "resubmission",
]

_FAULT_KEYS = ("code", "rule", "text", "segment_id", "segment_index", "field", "component")


def fault_dicts(faults: Sequence[Fault]) -> list[dict[str, Any]]:
    """The faults as stored: where each points (ERR-2) and what it says, nothing else."""
    return [{k: v for k, v in asdict(f).items() if k in _FAULT_KEYS} for f in faults]


def cause_of(faults: Sequence[Fault], text: str) -> str:
    """The error queue's grouping key: the first fault's rule and place, else the ACK text."""
    for f in faults:
        where = f"{f.segment_id}-{f.field}" if f.segment_id and f.field else f.segment_id
        return f"{f.rule} {where}".strip()
    return text or "rejected"


def raw_fields(raw: bytes) -> dict[str, str]:
    """The message as text, and its bytes (base64) only when the text would not give them back."""
    text = decode_bytes(raw)
    exact = text.encode("utf-8") == raw
    return {"raw": text, "raw_b64": "" if exact else base64.b64encode(raw).decode("ascii")}


def raw_of(raw: str, raw_b64: str) -> bytes:
    """The bytes received, from what ``raw_fields`` stored."""
    return base64.b64decode(raw_b64) if raw_b64 else raw.encode("utf-8")


def rejection(
    raw: bytes,
    channel: str,
    *,
    ack_code: str,
    ack_text: str,
    faults: Sequence[Fault],
    received_at: datetime,
    header: tuple[str, str, str, str] = ("", "", "", ""),
    reprocess_of: str = "",
) -> RejectedMessage:
    """One refused arrival; ``header`` is (MSH-3, MSH-4, MSH-10, type^trigger) when readable."""
    sender, facility, control_id, message_type = header
    return RejectedMessage.record(
        uuid.uuid4(),
        **raw_fields(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        channel=channel,
        ack_code=ack_code,
        ack_text=ack_text,
        cause=cause_of(faults, ack_text),
        faults=fault_dicts(faults),
        sending_application=sender,
        sending_facility=facility,
        control_id=control_id,
        message_type=message_type,
        received_at=received_at.isoformat(),
        reprocess_of=reprocess_of,
    )


def record_rejections(
    outcomes: Sequence[IngestOutcome], channels: Sequence[str], now: datetime
) -> tuple[list[IngestOutcome], list[Any]]:
    """The outcomes, each refused one naming its log entry, and the events to save with them."""
    named: list[IngestOutcome] = []
    events: list[Any] = []
    for outcome, channel in zip(outcomes, channels, strict=True):
        if outcome.ack_code == "AA":
            named.append(outcome)
            continue
        msg = outcome.message
        header = (
            (msg.field("MSH", 3), msg.field("MSH", 4), msg.control_id, outcome.message_type)
            if msg is not None
            else ("", "", "", "")
        )
        entry = rejection(
            outcome.raw,
            channel,
            ack_code=outcome.ack_code,
            ack_text=outcome.text,
            faults=outcome.faults,
            received_at=now,
            header=header,
        )
        events.extend(entry.collect_events())
        named.append(replace(outcome, rejected_id=entry.id))
    return named, events


BEFORE_ENGINE = ("MESSAGE_TOO_LONG", "SENDER_NOT_BOUND")
"""Causes of frames refused before the engine read them (the MLLP listener's refusals)."""


def refused_frame(
    raw: bytes,
    channel: str,
    *,
    identities: tuple[str, ...],
    ack_text: str,
    faults: Sequence[Fault],
    received_at: datetime,
) -> RejectedMessage:
    """A frame the listener answered AR before the engine saw it (oversize, sender rule).

    ``raw`` is what was kept (an oversize frame's head only); the channel gains the
    TLS identities (``mllp:PEER tls:NAME,...``), so the log says who connected.
    """
    named = f"{channel} tls:{','.join(identities)}" if identities else channel
    return rejection(
        raw,
        named,
        ack_code="AR",
        ack_text=ack_text,
        faults=faults,
        received_at=received_at,
        header=header_of(raw),
    )


def header_of(raw: bytes) -> tuple[str, str, str, str]:
    """(MSH-3, MSH-4, MSH-10, type^trigger) read from the first MSH line, blanks if none.

    Read by hand, not parsed: an oversize frame's head is cut anywhere.
    """
    text = decode_bytes(raw[:4096])
    line = next((ln for ln in text.replace("\n", "\r").split("\r") if ln.startswith("MSH")), "")
    if len(line) < 8:
        return ("", "", "", "")
    sep, comp = line[3], line[4]
    fields = [*line.split(sep), *[""] * 10]  # MSH-n is fields[n - 1]: MSH-1 is the separator
    kind = [k for k in fields[8].split(comp)[:2] if k]
    return (fields[2].split(comp)[0], fields[3].split(comp)[0], fields[9], "^".join(kind))


REPROCESS = "reprocess"
EDIT = "edit"


def reprocess_channel(entry_id: str, who: str, *, edited: bool = False) -> str:
    """The channel a resubmitted message is ingested on: which entry, who asked, edited or not.

    The channel is stored with the new attempt (InboundMessage or
    RejectedMessage), so every attempt names its original and its requester.
    """
    return f"{EDIT if edited else REPROCESS}:{entry_id}:{who}"


def reprocess_of(channel: str) -> tuple[str, str, bool]:
    """(original entry id, who asked, edited) of a resubmission; ("", "", False) if not one."""
    parts = channel.split(":", 2)
    if len(parts) == 3 and parts[0] in (REPROCESS, EDIT):
        return parts[1], parts[2], parts[0] == EDIT
    return "", "", False


def resubmission(
    original: RejectedMessage, who: str, edited: bytes | None = None
) -> tuple[bytes, str]:
    """What to ingest to resubmit ``original``: its bytes (or the edited ones) and channel.

    The original is never changed: an edit travels as a new attempt whose own
    log entry keeps the edited bytes, linked to the original by the channel.
    """
    if not who or ":" in who:
        raise ValueError("who must name the requester, without ':'")
    if edited is None and original.cause.split(" ", 1)[0] in BEFORE_ENGINE:
        raise ValueError(
            f"refused before the engine ({original.cause}): only the sender can resend it"
            " (an oversize frame was kept in part; a sender rule is the certificate's), or"
            " edit and resend it"
        )
    raw = edited if edited is not None else raw_of(original.raw, original.raw_b64)
    return raw, reprocess_channel(str(original.id), who, edited=edited is not None)
