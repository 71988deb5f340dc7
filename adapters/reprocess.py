"""Reprocess: refused messages resubmitted through the normal ingestion path.

One entry, or every pending entry a filter selects (in the order they were
received), is read back from the event store (RejectedMessage: the original
is never changed) and ingested again on channel ``reprocess:<entry>:<who>``
(``edit:`` for edited bytes), so each attempt is its own message log entry
linked to the original and naming who asked. Reprocessing twice applies once:
an accepted resubmission stores the message under its MSH-3/4/10 id, so a
second one is answered AA as a duplicate and adds nothing; an entry whose
resubmission was already accepted is skipped.

A message refused for reusing a control id (AE 205: MSH-3/4/10 already stored
with other content) is refused again as it is; ``new_control_id`` resubmits it
as an edit whose only change is MSH-10 (the console's edit form does the same
when the operator changes MSH-10 by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from engine.application.outcome import IngestOutcome
from engine.application.rejections import resubmission
from engine.domain.rejected import RejectedMessage
from engine.errors import CarelogError
from projections.messages import LogFilter, MessageLogView

__all__ = ["Attempt", "pending_in_order", "reprocess", "reprocess_all", "with_control_id"]

Ingest = Callable[[bytes, str], IngestOutcome]
Load = Callable[[UUID], object]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one resubmission came to: the original entry, the ACK code, the new entry's id."""

    entry_id: str
    ack_code: str
    skipped: bool = False
    duplicate: bool = False
    new_entry: str = ""


def reprocess(
    entry_id: str,
    who: str,
    *,
    load: Load,
    ingest: Ingest,
    log: MessageLogView | None = None,
    edited: bytes | None = None,
    new_control_id: str = "",
) -> Attempt:
    """Resubmits one refused message; ``edited`` bytes replace its text in the new attempt,
    ``new_control_id`` its MSH-10 (of the edited bytes when both are given).

    Raises:
        CarelogError: no refused message has that id, or the control id does not fit.
    """
    try:
        original = load(UUID(entry_id))  # Ingestion.current: None when absent
    except ValueError as e:
        raise CarelogError(f"no rejected message {entry_id!r}") from e
    if not isinstance(original, RejectedMessage):
        raise CarelogError(f"no rejected message {entry_id!r}")
    entry = log.entry(entry_id) if log is not None else None
    if entry is not None and entry.reprocessed_as and edited is None:
        return Attempt(entry_id, "AA", skipped=True, new_entry=entry.reprocessed_as)
    try:
        if new_control_id:
            edited = with_control_id(edited or resubmission(original, who)[0], new_control_id)
        raw, channel = resubmission(original, who, edited)
    except ValueError as e:
        raise CarelogError(str(e)) from e
    outcome = ingest(raw, channel)
    new = outcome.rejected_id or outcome.message_id
    return Attempt(
        entry_id,
        outcome.ack_code,
        duplicate=outcome.duplicate,
        new_entry=str(new) if new else "",
    )


def pending_in_order(log: MessageLogView, query: LogFilter) -> list[str]:
    """The error queue's entries ``query`` selects, oldest first (the order they arrived)."""
    found = log.search(replace(query, pending=True, accepted=False, limit=1000))
    return [e.entry_id for e in sorted(found, key=lambda e: e.position)]


def reprocess_all(
    entry_ids: Sequence[str], who: str, *, load: Load, ingest: Ingest, log: MessageLogView
) -> list[Attempt]:
    """Each entry in turn, in the order given (``pending_in_order`` gives arrival order)."""
    return [reprocess(i, who, load=load, ingest=ingest, log=log) for i in entry_ids]


def with_control_id(raw: bytes, control_id: str) -> bytes:
    """``raw`` with its MSH-10 replaced by ``control_id``; nothing else changes.

    Raises:
        ValueError: ``raw`` does not start with an MSH segment, or ``control_id``
            is empty, longer than 199 characters or holds a delimiter.
    """
    if not raw.startswith(b"MSH") or len(raw) < 8:
        raise ValueError("the message does not start with an MSH segment")
    sep = raw[3:4]
    end = min((i for i in (raw.find(b"\r"), raw.find(b"\n")) if i >= 0), default=len(raw))
    fields = raw[:end].split(sep)
    delimiters = sep + fields[1] + b"\r\n"  # MSH-1 and MSH-2 (with v2.7's truncation #)
    new = control_id.encode()
    if not new or len(new) > 199 or any(b in delimiters for b in new):
        raise ValueError(
            f"{control_id!r} cannot be an MSH-10 control id (1-199 characters, no delimiters)"
        )
    fields += [b""] * (10 - len(fields))
    fields[9] = new  # fields[0] is "MSH", fields[1] MSH-2: MSH-n is fields[n - 1]
    return sep.join(fields) + raw[end:]
