"""HL7 v2 batches (chapter 2, batch protocol): ``[FHS] {[BHS] {MSH...} [BTS]} [FTS]``.

A sender may put a whole batch in one MLLP frame. carelog splits it into its
messages, ingests each on its own (a bad one does not take the good ones with
it) and answers with one batch acknowledgement in one frame, the structure
chapter 2 gives for acknowledging batches::

    [FHS] { BHS { MSH MSA [ERR] } BTS } [FTS]

with one ACK per message, in the order received. BHS-12 (reference batch
control id) echoes the received BHS-11, FHS-12 the received FHS-11; BTS-1
counts the ACKs in the batch and BTS-2 says how many were accepted and which
(by MSH-10) were not. Envelope fields are echoed with sender and receiver
swapped, in the sender's delimiters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engine.hl7.ack import format_hl7_datetime, next_control_id
from engine.hl7.message import Separators

__all__ = ["Batch", "BatchFile", "build_batch_ack", "is_batch", "read_batch"]

_LINE = re.compile(rb"\r\n|\r|\n")
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")


@dataclass
class Batch:
    """One BHS ... BTS group: its header fields (``[]`` when the file had no BHS) and messages."""

    header: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    trailer_count: str = ""  # BTS-1 as sent


@dataclass
class BatchFile:
    """A whole batch frame: the optional FHS fields and its batches."""

    header: list[str] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)

    @property
    def messages(self) -> list[bytes]:
        """Every message of every batch, in order."""
        return [m for batch in self.batches for m in batch.messages]


def is_batch(data: bytes) -> bool:
    """Whether a frame is a batch (starts with FHS or BHS) rather than one message."""
    return data.lstrip(b"\r\n \t")[:3] in (b"FHS", b"BHS")


def _fields(line: bytes) -> list[str]:
    """A header segment's fields numbered as HL7 does (``[1]`` is the field separator)."""
    text = line.decode("latin-1")
    sep = text[3] if len(text) > 3 else "|"
    parts = text.split(sep)
    return [parts[0], sep, *parts[1:]]


def read_batch(data: bytes) -> BatchFile:
    """Splits a batch frame into its envelope and messages (segments joined by ``\\r``).

    Messages before any BHS form a batch without a header; text outside any
    message (blank lines, stray segments) is dropped.
    """
    file = BatchFile()
    batch: Batch | None = None
    current: list[bytes] = []

    def end_message() -> None:
        if current:
            assert batch is not None
            batch.messages.append(b"\r".join(current) + b"\r")
            current.clear()

    for line in _LINE.split(data):
        head = line[:3]
        if head in _ENVELOPE:
            end_message()
            if head == b"FHS":
                file.header = _fields(line)
            elif head == b"BHS":
                batch = Batch(header=_fields(line))
                file.batches.append(batch)
            elif head == b"BTS" and batch is not None:
                batch.trailer_count = _pick(_fields(line), 2)
                batch = None
            continue
        if head == b"MSH":
            end_message()
            if batch is None:
                batch = Batch()
                file.batches.append(batch)
            current.append(line)
        elif current and line.strip():
            current.append(line)
    end_message()
    return file


def _pick(fields: Sequence[str], n: int) -> str:
    return fields[n] if n < len(fields) else ""


def _header(kind: str, received: Sequence[str], now: datetime) -> bytes:
    """An FHS/BHS answering ``received``: sender and receiver swapped, its control id echoed."""
    sep = _pick(received, 1) or "|"
    fields = [
        kind,
        _pick(received, 2) or "^~\\&",
        _pick(received, 5),
        _pick(received, 6),
        _pick(received, 3),
        _pick(received, 4),
        format_hl7_datetime(now),
        "",
        "",
        "",
        next_control_id(),
        _pick(received, 11),
    ]
    return sep.join(fields).rstrip(sep).encode("latin-1")


def _separators(header: Sequence[str]) -> Separators:
    sep, enc = _pick(header, 1) or "|", _pick(header, 2)
    if len(enc) < 4:
        return Separators(field=sep)
    return Separators(sep, enc[0], enc[1], enc[2], enc[3])


def build_batch_ack(
    file: BatchFile,
    acks: Sequence[Sequence[bytes | None]],
    summaries: Sequence[str],
    *,
    now: datetime,
) -> bytes:
    """The batch acknowledgement: per received batch a BHS, its ACKs, a BTS; FHS/FTS if sent.

    ``acks[i]`` are the ACK messages of batch ``i`` in order (``None``: the
    message asked for none); ``summaries[i]`` goes, escaped, to its BTS-2.
    Envelope text is echoed byte for byte; each ACK keeps its own encoding.
    """
    segments: list[bytes] = []
    if file.header:
        segments.append(_header("FHS", file.header, now))
    for batch, batch_acks, summary in zip(file.batches, acks, summaries, strict=True):
        header = batch.header or ["BHS", _pick(file.header, 1) or "|", _pick(file.header, 2)]
        seps = _separators(header)
        segments.append(_header("BHS", header, now))
        sent = [ack for ack in batch_acks if ack is not None]
        for ack in sent:
            segments.extend(s for s in ack.split(b"\r") if s)
        trailer = seps.field.join(["BTS", str(len(sent)), seps.escape_text(summary)])
        segments.append(trailer.encode("latin-1", "replace"))
    if file.header:
        fs = _pick(file.header, 1) or "|"
        segments.append(fs.join(["FTS", str(len(file.batches))]).encode("latin-1"))
    return b"\r".join(segments) + b"\r"
