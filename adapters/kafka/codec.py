"""Stored events as Kafka records and back, without re-encoding the event.

The record value is the stored event's state exactly as the store holds it
(the application's transcoder wrote it, so its mapper reads it back); the
headers carry what a StoredEvent needs beside it, plus the store position:

    application       the application name (``carelog``)
    notification_id   the event's position in the store, decimal
    topic             the event class topic (module:qualname)
    originator_id     the aggregate id
    originator_version the aggregate version, decimal

The key is the patient id, so one patient's events share a partition and
arrive in store order (see ``relay.PatientKeys``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from engine.errors import CarelogError

__all__ = ["EventRecord", "RecordError", "decode_record", "encode_notification"]

_HEADERS = ("application", "notification_id", "topic", "originator_id", "originator_version")


class RecordError(CarelogError):
    """A Kafka record that is not a carelog event record (missing or malformed headers)."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One stored event as read from a topic."""

    application: str
    notification_id: int
    stored: StoredEvent


def encode_notification(
    application: str, notification: Notification
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of the record for ``notification``."""
    headers = [
        ("application", application.encode()),
        ("notification_id", str(notification.id).encode()),
        ("topic", notification.topic.encode()),
        ("originator_id", str(notification.originator_id).encode()),
        ("originator_version", str(notification.originator_version).encode()),
    ]
    return bytes(notification.state), headers


def decode_record(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> EventRecord:
    """The stored event a record carries.

    Raises:
        RecordError: the record lacks a carelog header or has a malformed one.
    """
    found = {name: raw for name, raw in headers or ()}
    missing = [name for name in _HEADERS if name not in found]
    if missing or value is None:
        raise RecordError(f"not a carelog event record (missing {missing or ['value']})")
    try:
        text = {name: found[name].decode() for name in _HEADERS}
        notification_id = int(text["notification_id"])
        originator_id = UUID(text["originator_id"])
        version = int(text["originator_version"])
    except (UnicodeDecodeError, ValueError) as e:
        raise RecordError(f"malformed carelog event record header: {e}") from e
    stored = StoredEvent(
        originator_id=originator_id,
        originator_version=version,
        topic=text["topic"],
        state=value,
    )
    return EventRecord(text["application"], notification_id, stored)
