"""Reading the access log: its records straight from the event store, filtered for an auditor.

The records are ``AccessRecord.Recorded`` events in the application's own
store (sealed with everything else). This view selects them by topic
(``select_notifications(..., topics=...)``) in position order, newest
first, and filters by patient, subject and time. It keeps no table of its
own: an auditor's query scans the access records (not the clinical ones),
which is fine for audits of days or weeks; an indexed table (a tracked
projection like the others) is the next step when the log grows to many
millions of records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from engine.domain.access import AccessRecord

__all__ = ["AccessLogQuery", "AccessLogView", "AccessRow"]

TOPIC = get_topic(AccessRecord.Recorded)


@dataclass(frozen=True, slots=True)
class AccessRow:
    """One access-log record and its store position."""

    position: int
    record_id: str
    at: datetime
    subject: str
    client_id: str
    token_id: str
    interaction: str
    resource_type: str
    method: str
    path: str
    query: str
    patient_id: str
    outcome: int
    peer: str


@dataclass(frozen=True, slots=True)
class AccessLogQuery:
    """An auditor's filters (all optional) and page size."""

    patient_id: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


class AccessLogView:
    """Access records of the store ``recorder`` holds, decoded with ``mapper``."""

    def __init__(self, recorder: Any, mapper: Any, *, batch_size: int = 2000) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.batch_size = batch_size

    def rows(self, start: int = 1) -> list[AccessRow]:
        """Every access record from position ``start`` on, oldest first."""
        out: list[AccessRow] = []
        position = start
        while True:
            batch = self.recorder.select_notifications(position, self.batch_size, topics=(TOPIC,))
            out.extend(self._row(n) for n in batch)
            if len(batch) < self.batch_size:
                return out
            position = batch[-1].id + 1

    def search(self, query: AccessLogQuery) -> list[AccessRow]:
        """Records matching ``query``, newest first, at most ``query.limit``."""
        found = []
        for row in reversed(self.rows()):
            if query.patient_id is not None and row.patient_id != query.patient_id:
                continue
            if query.subject is not None and row.subject != query.subject:
                continue
            if query.since is not None and row.at < query.since:
                continue
            if query.until is not None and row.at >= query.until:
                continue
            found.append(row)
            if len(found) >= query.limit:
                break
        return found

    def _row(self, notification: Any) -> AccessRow:
        event = self.mapper.to_domain_event(notification)
        return AccessRow(
            position=notification.id,
            record_id=str(event.originator_id),
            at=datetime.fromisoformat(event.at),
            subject=event.subject,
            client_id=event.client_id,
            token_id=event.token_id,
            interaction=event.interaction,
            resource_type=event.resource_type,
            method=event.method,
            path=event.path,
            query=event.query,
            patient_id=event.patient_id,
            outcome=int(event.outcome),
            peer=event.peer,
        )
