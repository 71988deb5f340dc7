"""The InboundMessage aggregate: the raw message as received, kept for audit.

Every domain event a message causes names this aggregate's id as its
``source_message_id``, so an auditor can go from any event to the exact bytes.
Saving it in the same transaction as those events is what makes a resent
message (same MSH-3, MSH-4, MSH-10) a no-op: its id already exists.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from engine.domain.lean import create

__all__ = ["InboundMessage"]


class InboundMessage(Aggregate):
    """An HL7 v2 message accepted by carelog."""

    class Received(Aggregate.Created):
        """Emitted once, when the message and the events it caused are committed."""

        sending_application: str
        sending_facility: str
        control_id: str
        message_type: str
        version: str
        channel: str
        raw: str
        sha256: str

    def __init__(
        self,
        sending_application: str,
        sending_facility: str,
        control_id: str,
        message_type: str,
        version: str,
        channel: str,
        raw: str,
        sha256: str,
    ) -> None:
        self.sending_application = sending_application
        self.sending_facility = sending_facility
        self.control_id = control_id
        self.message_type = message_type
        # Not ``self.version``: that is the aggregate's own version number (an int),
        # which this string would overwrite.
        self.hl7_version = version
        self.channel = channel
        self.raw = raw
        self.sha256 = sha256

    @classmethod
    def receive(
        cls,
        message_id: UUID,
        *,
        sending_application: str,
        sending_facility: str,
        control_id: str,
        message_type: str,
        version: str,
        channel: str,
        raw: str,
        sha256: str,
    ) -> InboundMessage:
        """Records the arrival of a message under its deterministic id."""
        return create(
            cls,
            cls.Received,
            message_id,
            sending_application=sending_application,
            sending_facility=sending_facility,
            control_id=control_id,
            message_type=message_type,
            version=version,
            channel=channel,
            raw=raw,
            sha256=sha256,
        )
