"""Identifiers as read-model text, remembered: the same ids are written again and again.

Every event names its aggregate (and often its patient, visit or source
message) by UUID, and each of the six read models writes those ids as text:
``str(UUID)`` is a Python method that formats 128 bits each time, ~1 us, and
it ran about four times per event. The text of an id never changes, so it is
kept in a bounded dict: looking it up costs a hash (the UUID's int) and a
probe. The dict is emptied when it is full, so memory stays bounded however
long the process runs; what it returns is always exactly ``str(value)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["id_text"]

_LIMIT = 65_536  # ids remembered: a few MB at most
_TEXTS: dict[Any, str] = {}


def id_text(value: Any) -> str:
    """``str(value)`` for an id (a UUID, or text already), from memory when seen lately."""
    text = _TEXTS.get(value)
    if text is None:
        if len(_TEXTS) >= _LIMIT:
            _TEXTS.clear()
        text = _TEXTS[value] = str(value)
    return text
