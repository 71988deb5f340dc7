"""The access log's record: who touched which patient's data, how, from where, with what outcome.

Access control itself is an adapter concern (tokens never reach the domain);
what it decided is a fact worth keeping as carefully as the clinical events,
so each record is an event of its own in the same store, under the same
seals (``carelog verify`` covers it). One record per patient touched, as
IHE's Basic Audit Log Patterns do; a request that touched none (a refusal, a
search that found nothing) leaves one record with an empty ``patient_id``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from engine.domain.lean import create

__all__ = ["AccessFacts", "AccessRecord"]


@dataclass(frozen=True, slots=True)
class AccessFacts:
    """What one access (or refusal) was: the fields of ``AccessRecord.Recorded``.

    ``at`` is when it was answered (ISO 8601, UTC); ``outcome`` the HTTP status
    or the MLLP refusal's code; ``patient_id`` empty when none was touched.
    """

    at: str
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


class AccessRecord(Aggregate):
    """One access to patient data (or one refusal), written once and never changed."""

    class Recorded(Aggregate.Created):
        """The request's facts; ``at`` is when it was answered (ISO 8601, UTC)."""

        at: str
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

    def __init__(
        self,
        at: str,
        subject: str,
        client_id: str,
        token_id: str,
        interaction: str,
        resource_type: str,
        method: str,
        path: str,
        query: str,
        patient_id: str,
        outcome: int,
        peer: str,
    ) -> None:
        self.facts = AccessFacts(
            at, subject, client_id, token_id, interaction, resource_type,
            method, path, query, patient_id, outcome, peer,
        )  # fmt: skip

    @classmethod
    def record(cls, facts: AccessFacts, record_id: UUID | None = None) -> AccessRecord:
        """A new record (a fresh id unless one is given)."""
        return create(cls, cls.Recorded, record_id or uuid4(), **asdict(facts))
