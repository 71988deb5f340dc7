"""Received messages to the message log: one entry per arrival, indexed by its business keys.

Accepted messages (InboundMessage.Received) and refused ones
(RejectedMessage.Recorded) land in the same table, so one search finds either.
Keys are read from the raw text here, off the hot path of ingestion. A message
resubmitted from the console arrives on channel ``reprocess:<entry>:<who>`` (``edit:`` when edited):
its entry names the original, and an accepted one closes the original in
the error queue. Handlers read only the event: a replay rebuilds the same log.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.application.rejections import reprocess_of
from engine.domain.message import InboundMessage
from engine.domain.rejected import RejectedMessage
from engine.errors import MessageRejectedError
from engine.hl7.message import Message, parse_message
from projections.dispatch import DispatchingProjection, handles
from projections.messages.view import LogEntry, MessageLogView
from projections.texts import id_text

__all__ = ["MessageLogProjection", "business_keys"]


def _reprocess_of(channel: str) -> str:
    return reprocess_of(channel)[0]


# (kind, segment, field): where each business key is read (component 1).
_KEY_FIELDS = (
    ("mrn", "PID", 3),
    ("mrn", "MRG", 1),
    ("visit", "PV1", 19),
    ("order", "ORC", 2),
    ("order", "ORC", 3),
    ("order", "OBR", 2),
    ("order", "OBR", 3),
    ("accession", "OBR", 18),
    ("accession", "OBR", 20),
)


def business_keys(raw: str) -> list[tuple[str, str]]:
    """(kind, value) pairs a message names: every PID-3 repetition, PV1-19, orders, accessions."""
    try:
        msg = parse_message(raw)
    except MessageRejectedError:
        return []
    keys: set[tuple[str, str]] = set()
    for kind, segment, field in _KEY_FIELDS:
        for occurrence in range(1, len(msg.segments_named(segment)) + 1):
            keys.update(_values(msg, kind, segment, field, occurrence))
    return sorted(keys)


def _values(
    msg: Message, kind: str, segment: str, field: int, occurrence: int
) -> list[tuple[str, str]]:
    count = len(msg.repetitions(segment, field, occurrence)) or 1
    values = (
        msg.get(segment, field, repetition=n, occurrence=occurrence) for n in range(1, count + 1)
    )
    return [(kind, v.strip()) for v in values if v.strip()]


class MessageLogProjection(DispatchingProjection[MessageLogView]):
    """Maintains ``messages_v1``; bump the suffix to rebuild beside the old tables."""

    name = "messages_v1"
    topics = (get_topic(InboundMessage.Received), get_topic(RejectedMessage.Recorded))

    @handles(InboundMessage.Received)
    def _accepted(self, event: InboundMessage.Received, tracking: Tracking) -> None:
        entry = LogEntry(
            entry_id=id_text(event.originator_id),
            position=tracking.notification_id,
            received_at=event.timestamp,
            accepted=True,
            ack_code="AA",
            message_type=event.message_type,
            sender=event.sending_application,
            facility=event.sending_facility,
            control_id=event.control_id,
            channel=event.channel,
            reprocess_of=_reprocess_of(event.channel),
        )
        self.view.add_entry(entry, business_keys(event.raw), tracking)

    @handles(RejectedMessage.Recorded)
    def _rejected(self, event: RejectedMessage.Recorded, tracking: Tracking) -> None:
        entry = LogEntry(
            entry_id=id_text(event.originator_id),
            position=tracking.notification_id,
            received_at=event.timestamp,
            accepted=False,
            ack_code=event.ack_code,
            message_type=event.message_type,
            sender=event.sending_application,
            facility=event.sending_facility,
            control_id=event.control_id,
            channel=event.channel,
            cause=event.cause,
            reprocess_of=event.reprocess_of or _reprocess_of(event.channel),
        )
        self.view.add_entry(entry, business_keys(event.raw), tracking)
