"""The message log read model: every received message, accepted or not, found by index.

One row per arrival (``LogEntry``: when, what, from whom, the ACK code and,
for a refused one, the cause) and its business keys (MRN, visit number,
order and accession numbers) in a table of their own, so a search by any of
them is an index lookup, never a scan of the messages' text. The text, the
faults and the events stay in the event store (InboundMessage and
RejectedMessage aggregates): the console reads them by id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import Tracking, TrackingRecorder

__all__ = ["KEY_KINDS", "LogEntry", "LogFilter", "MessageLogView"]

KEY_KINDS = ("mrn", "visit", "order", "accession")
"""The business keys a message is indexed by (``LogFilter.key_kind``)."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One received message as the log lists it (a row of ``message_log_v1``).

    ``entry_id`` is the InboundMessage id (accepted) or the RejectedMessage id;
    ``cause`` is empty for accepted messages; ``reprocess_of`` names the
    rejected entry this one resubmitted, ``reprocessed_as`` the entry that
    finally accepted a rejected one.
    """

    entry_id: str
    position: int
    received_at: datetime
    accepted: bool
    ack_code: str
    message_type: str
    sender: str
    facility: str
    control_id: str
    channel: str
    cause: str = ""
    reprocess_of: str = ""
    reprocessed_as: str = ""


@dataclass(frozen=True, slots=True)
class LogFilter:
    """A search: every given field must match; ``key_kind``/``key_value`` go together.

    ``message_type`` matches ``ADT`` or ``ADT^A02``. ``pending``: the error queue only
    (refused originals not yet accepted on a resubmission). Newest first, at most ``limit``.
    """

    since: datetime | None = None
    until: datetime | None = None
    message_type: str = ""
    sender: str = ""
    ack_code: str = ""
    control_id: str = ""
    key_kind: str = ""
    key_value: str = ""
    accepted: bool | None = None
    cause: str = ""
    pending: bool = False
    limit: int = 100


class MessageLogView(TrackingRecorder, ABC):
    """Commands the projection calls and the searches the console and the CLI ask."""

    @abstractmethod
    def add_entry(
        self, entry: LogEntry, keys: Sequence[tuple[str, str]], tracking: Tracking
    ) -> None:
        """Stores one arrival and its (kind, value) keys."""

    @abstractmethod
    def entry(self, entry_id: str) -> LogEntry | None:
        """One entry by id, None if absent."""

    @abstractmethod
    def search(self, query: LogFilter) -> list[LogEntry]:
        """Entries matching ``query``, newest first."""

    @abstractmethod
    def causes(self) -> list[tuple[str, int]]:
        """The error queue: each cause of pending entries (``LogFilter.pending``), how many."""

    @abstractmethod
    def rejected_before(self, when: datetime, limit: int = 1000) -> list[tuple[str, int]]:
        """(entry id, position) of refused entries received before ``when``, oldest first.

        What retention deletes from the event store (adapters/retention.py).
        """

    @abstractmethod
    def forget_before(self, when: datetime) -> int:
        """Drops entries received before ``when`` (retention); how many went."""
