"""Reprocess: refused messages resubmitted through the normal ingestion path.

One entry, or every pending entry a filter selects (in the order they were
received), is read back from the event store (RejectedMessage: the original
is never changed) and ingested again on channel ``reprocess:<entry>:<who>``
(``edit:`` for edited bytes), so each attempt is its own message log entry
linked to the original and naming who asked. Reprocessing twice applies once:
an accepted resubmission stores the message under its MSH-3/4/10 id, so a
second one is answered AA as a duplicate and adds nothing; an entry whose
resubmission was already accepted is skipped.
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

__all__ = ["Attempt", "pending_in_order", "reprocess", "reprocess_all"]

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
) -> Attempt:
    """Resubmits one refused message; ``edited`` bytes replace its text in the new attempt.

    Raises:
        CarelogError: no refused message has that id.
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
