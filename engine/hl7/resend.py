"""What makes two messages with the same control id the same message: a resend digest.

A sender that did not get its ACK sends the message again with the same
MSH-3, MSH-4 and MSH-10; some stamp a new MSH-7 (date/time of message) on the
resend, and line endings may differ between the two transports. Anything else
that differs means a new message under an old control id (a sender whose
counter was reset after an upgrade, a failover or a new interface), which must
not be answered AA and thrown away as a duplicate.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["resend_digest"]

_LINES = re.compile(r"\r\n|\r|\n")
_MSH_7 = 6  # index in the split MSH line: "MSH", MSH-2, MSH-3 ... (MSH-1 is the separator)


def resend_digest(text: str) -> str:
    """SHA-256 (hex) of ``text`` with MSH-7 emptied and segments joined by CR.

    Empty lines and trailing blanks at the end of segments are left out: they
    carry nothing a receiver reads. Two messages with the same digest differ
    at most in what a resend may change.
    """
    segments = [line.rstrip() for line in _LINES.split(text)]
    normalised = []
    for segment in segments:
        if not segment:
            continue
        if segment.startswith("MSH") and len(segment) > 3:
            fields = segment.split(segment[3])
            if len(fields) > _MSH_7:
                fields[_MSH_7] = ""
            segment = segment[3].join(fields)
        normalised.append(segment)
    return hashlib.sha256("\r".join(normalised).encode("utf-8")).hexdigest()
