"""Cutting files and byte streams into single HL7 v2 messages.

`carelog send` and `carelog validate` read files that hold messages MLLP-framed
or as plain text, separated by blank lines or simply by the next ``MSH``, with
any of ``\\r``, ``\\n`` or ``\\r\\n`` between segments (docs/integrators.md).
"""

from __future__ import annotations

import re

__all__ = ["split_messages"]

_START = b"\x0b"
_END = b"\x1c"
_LINE = re.compile(rb"\r\n|\r|\n")
_BATCH_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")


def split_messages(data: bytes) -> list[bytes]:
    """The messages in ``data``, each with ``\\r`` between segments and no framing.

    Batch envelope segments (FHS/BHS/BTS/FTS) are dropped: each message inside
    is delivered on its own, as a receiver of a batch file is expected to do.
    """
    text = data.replace(_START, b"\n").replace(_END, b"\n")
    messages: list[bytes] = []
    current: list[bytes] = []
    for line in _LINE.split(text):
        stripped = line.strip(b" \t")
        if not stripped:
            if current:
                messages.append(b"\r".join(current))
                current = []
            continue
        if stripped[:3] in _BATCH_ENVELOPE:
            if current:
                messages.append(b"\r".join(current))
                current = []
            continue
        if line[:3] == b"MSH" and current:
            messages.append(b"\r".join(current))
            current = []
        current.append(line)
    if current:
        messages.append(b"\r".join(current))
    return messages
