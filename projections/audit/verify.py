"""``carelog verify``: is the stored history what was written?

One pass over the stored records in notification order checks:

1. positions have no holes (on SQLite, which never skips one; on PostgreSQL a
   rolled-back insert may skip a sequence value, so a hole there is a fault
   only where a seal shows a record was there);
2. each sealed record still has its seal: the seal is recomputed from the
   previous *stored* seal and the record's bytes, so one altered record is
   reported at its own position and not at every position after it;
3. every record decodes into its event (through the application's mapper);
4. each ``InboundMessage.Received`` still hashes to the sha256 stored with it;
5. each event's ``source_message_id`` names a message stored before it
   (ingestion saves the message in the same transaction, ahead of its events).

Records after the last seal are reported as an unsealed tail, not as faults.
Positions retention deleted (rejected messages, registered with a valid tag in
``carelog_pruned``, see projections/audit/pruned.py) are counted as pruned,
not as faults; the chain goes on from their stored seals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.utils import get_topic

from engine.domain.message import InboundMessage
from engine.domain.rejected import RejectedMessage
from engine.errors import ErasedDataError
from projections.audit.pruned import PrunedRegister
from projections.audit.seals import GENESIS, Sealer, next_seal

__all__ = ["Fault", "VerifyReport", "verify"]

_RECEIVED_TOPIC = get_topic(InboundMessage.Received)
PRUNABLE_TOPICS = frozenset({get_topic(RejectedMessage.Recorded)})
"""What retention may delete (rejected messages): docs/data-at-rest.md."""
_CODECS = ("utf-8", "latin-1", "cp1252", "iso8859-15")


@dataclass(frozen=True, slots=True)
class Fault:
    """One position whose record is not as it was written."""

    position: int
    kind: str  # missing | deleted | altered | unsealed | undecodable | raw-altered | orphan
    text: str


@dataclass
class VerifyReport:
    """What verify found; ``intact`` when no faults."""

    head: int = 0
    records: int = 0
    sealed_up_to: int = 0
    unsealed_from: int = 0  # first position of the unsealed tail, 0 when none
    keyed: bool = False
    holes: int = 0  # skipped positions that no seal claims (PostgreSQL only)
    pruned: int = 0  # records retention deleted (registered in carelog_pruned)
    faults: list[Fault] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.faults

    @property
    def first_bad(self) -> int:
        """The lowest position that is not intact (0 when intact)."""
        return min((f.position for f in self.faults), default=0)


def _raw_matches(raw: str, sha256: str) -> bool:
    for codec in _CODECS:
        try:
            data = raw.encode(codec)
        except UnicodeEncodeError:
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return True
    return False


def verify(
    recorder: Any,
    mapper: Any,
    sealer: Sealer,
    *,
    holes_allowed: bool = False,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Checks every stored record (see the module docstring); never writes.

    ``holes_allowed`` is True on PostgreSQL, where sequences may skip values.
    """
    report = VerifyReport(keyed=sealer.keyed)
    head = recorder.max_notification_id() or 0
    last_sealed, _ = sealer.last_seal()
    report.head = head
    report.sealed_up_to = min(last_sealed, head)
    messages: set[bytes] = set()
    previous = GENESIS
    expected = 1
    position = 0
    faults = report.faults
    pruned = PrunedRegister(recorder, sealer.key).accepted(PRUNABLE_TOPICS)

    def check_gap(upto: int, seals: dict[int, bytes]) -> None:
        """Positions ``expected`` .. ``upto - 1`` hold no record."""
        nonlocal previous
        for missing in range(expected, upto):
            if missing in pruned:
                report.pruned += 1
                if missing in seals:
                    previous = seals[missing]
            elif missing in seals:
                faults.append(Fault(missing, "deleted", "a sealed record is no longer stored"))
                previous = seals[missing]
            elif not holes_allowed:
                faults.append(Fault(missing, "missing", "no record at this position"))
            else:
                report.holes += 1

    while position < head:
        batch = recorder.select_notifications(position + 1, batch_size, stop=head)
        if not batch:
            break
        seals = sealer.seals_between(position + 1, batch[-1].id)
        for record in batch:
            check_gap(record.id, seals)
            expected = record.id + 1
            report.records += 1
            stored = seals.get(record.id)
            computed = next_seal(previous, record, sealer.key)
            if stored is not None:
                if stored != computed:
                    faults.append(Fault(record.id, "altered", "the record does not match its seal"))
                previous = stored
            elif record.id <= last_sealed:
                faults.append(Fault(record.id, "unsealed", "the seal of this record is missing"))
                previous = computed
            elif not report.unsealed_from:
                report.unsealed_from = record.id
            _check_event(record, mapper, messages, faults)
        position = batch[-1].id
        if progress is not None:
            progress(position, head)
    if last_sealed >= expected:  # seals for records after the last one stored
        tail = sealer.seals_between(expected, last_sealed)
        for missing in sorted(tail):
            if missing in pruned:
                report.pruned += 1
                continue
            faults.append(Fault(missing, "deleted", "a sealed record is no longer stored"))
    faults.sort(key=lambda f: f.position)
    return report


def _check_event(record: Any, mapper: Any, messages: set[bytes], faults: list[Fault]) -> None:
    try:
        event = mapper.to_domain_event(record)
    except ErasedDataError:
        # Crypto-shredded (an erased patient): the seals still cover its bytes;
        # its content is unreadable by design, so only its kind is checked.
        if record.topic == _RECEIVED_TOPIC:
            messages.add(record.originator_id.bytes)
        return
    except Exception as e:
        faults.append(Fault(record.id, "undecodable", f"{type(e).__name__}: {e}"[:200]))
        if record.topic == _RECEIVED_TOPIC:  # its events are not orphans: it is reported
            messages.add(record.originator_id.bytes)
        return
    if isinstance(event, InboundMessage.Received):
        if not _raw_matches(event.raw, event.sha256):
            faults.append(
                Fault(record.id, "raw-altered", "the raw message does not match its sha256")
            )
        messages.add(event.originator_id.bytes)
        return
    source = getattr(event, "source_message_id", None)
    if source is not None and source.bytes not in messages:
        faults.append(
            Fault(record.id, "orphan", f"source message {source} is not stored before it")
        )
