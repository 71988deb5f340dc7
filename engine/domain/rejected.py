"""The RejectedMessage aggregate: a message carelog answered AE or AR, kept for the console.

Kept apart from the domain on purpose: it names no patient and no visit, and
no read model of patients, visits or results subscribes to it, so storing a
rejected message changes nothing a clinician sees. It exists so an operator
can find the message, see why it was refused and resubmit it (reprocess).
Each arrival is its own aggregate (a random id): the same bytes refused twice
are two entries in the message log, as they were two answers on the wire.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from engine.domain.lean import create

__all__ = ["RejectedMessage"]


class RejectedMessage(Aggregate):
    """An HL7 v2 message carelog did not accept (ACK AE or AR, or refused before the engine)."""

    class Recorded(Aggregate.Created):
        """Emitted once, in the writer's commit that decided the message.

        ``faults`` are dicts with the ERR location (``code``, ``rule``, ``text``,
        ``segment_id``, ``segment_index``, ``field``, ``component``); ``cause``
        is a short grouping key for the error queue (the first fault's rule).
        ``reprocess_of`` names the rejected message this one resubmitted, if any.
        """

        raw: str
        raw_b64: str
        sha256: str
        channel: str
        ack_code: str
        ack_text: str
        cause: str
        faults: list[dict[str, Any]]
        sending_application: str
        sending_facility: str
        control_id: str
        message_type: str
        received_at: str
        reprocess_of: str

    def __init__(
        self,
        raw: str,
        raw_b64: str,
        sha256: str,
        channel: str,
        ack_code: str,
        ack_text: str,
        cause: str,
        faults: list[dict[str, Any]],
        sending_application: str,
        sending_facility: str,
        control_id: str,
        message_type: str,
        received_at: str,
        reprocess_of: str,
    ) -> None:
        self.raw = raw
        self.raw_b64 = raw_b64  # the bytes, only when ``raw`` encoded as UTF-8 differs
        self.sha256 = sha256
        self.channel = channel
        self.ack_code = ack_code
        self.ack_text = ack_text
        self.cause = cause
        self.faults = faults
        self.sending_application = sending_application
        self.sending_facility = sending_facility
        self.control_id = control_id
        self.message_type = message_type
        self.received_at = received_at
        self.reprocess_of = reprocess_of

    @classmethod
    def record(cls, rejected_id: UUID, **fields: Any) -> RejectedMessage:
        """Records one refused arrival under ``rejected_id`` (fields as ``Recorded``)."""
        return create(cls, cls.Recorded, rejected_id, **fields)
