"""The Ingestion service: one inbound HL7 v2 message in, committed events and an outcome out.

validate (native, through the port) -> read the header -> check what is
supported -> decide on aggregates -> save them with the InboundMessage in one
transaction. Only after that save returns is the outcome AA, so an ACK can
never run ahead of the commit.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, tzinfo
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from engine.application.adt import HANDLERS as ADT_HANDLERS
from engine.application.adt import Handler, MessageContext
from engine.application.billing import post_transactions
from engine.application.outcome import IngestOutcome
from engine.application.results import report_results
from engine.application.transcodings import register_value_transcodings
from engine.domain.ids import message_id_for
from engine.domain.message import InboundMessage
from engine.errors import (
    ConcurrencyError,
    DomainError,
    MessageRejectedError,
    UnknownPatientError,
    UnknownVisitError,
)
from engine.hl7.datatypes import read_datetime
from engine.hl7.message import parse_message
from engine.ports import Clock, Fault, MessageValidator

__all__ = ["Ingestion"]

log = structlog.get_logger(__name__)

_UNSUPPORTED_CODES = frozenset({200, 201, 202, 203})
HANDLERS: dict[tuple[str, str], Handler] = {
    **ADT_HANDLERS,
    ("ORU", "R01"): report_results,
    ("DFT", "P03"): post_transactions,
}
"""(MSH-9.1, MSH-9.2) to the handler that applies it; anything else is answered AR."""
KNOWN_MESSAGE_CODES = frozenset(code for code, _ in HANDLERS)


def ack_code_for(faults: Iterable[Fault]) -> str:
    """AR when the message cannot be processed at all, AE when its data is wrong, else AA."""
    errors = [f for f in faults if f.severity == "E"]
    if any(f.fatal or f.code in _UNSUPPORTED_CODES for f in errors):
        return "AR"
    return "AE" if errors else "AA"


class Ingestion(Application[UUID]):
    """Turns HL7 v2 messages into stored domain events (the command side)."""

    name = "carelog"  # fixed: tracking records and env prefixes refer to it

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        validator: MessageValidator,
        clock: Clock,
        site_timezone: tzinfo = UTC,
        processing_ids: frozenset[str] = frozenset({"P"}),
        max_attempts: int = 5,
    ) -> None:
        super().__init__(env)
        self.validator = validator
        self.clock = clock
        self.site_timezone = site_timezone
        self.processing_ids = processing_ids
        self.max_attempts = max_attempts

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_transcodings(transcoder)

    def ingest(self, raw: bytes, channel: str = "") -> IngestOutcome:
        """Applies one message; the outcome says which ACK it deserves.

        Rejected messages (AE/AR) change nothing. A message already stored
        under the same MSH-3, MSH-4 and MSH-10 is answered AA and adds no event.

        Raises:
            ConcurrencyError: other writers kept changing the same aggregates.
        """
        return self.ingest_many([(raw, channel)])[0]

    def ingest_many(self, items: Sequence[tuple[bytes, str]]) -> list[IngestOutcome]:
        """Applies several messages in one transaction (group commit), in order.

        Each message is decided as if the ones before it were already stored: a
        staging area lends it copies of the aggregates they changed, and keeps
        its own changes only if it is accepted, so a rejected message leaves no
        trace. All accepted messages' events are saved together; every outcome
        is AA only after that single commit. If the commit conflicts with another
        writer, the messages are retried one by one.

        Raises:
            ConcurrencyError: other writers kept changing the same aggregates.
        """
        all_faults = self.validator.validate_many([raw for raw, _ in items])
        for _ in range(self.max_attempts):
            staging = _Staging(self._load, self.repository)
            decided = [
                self._decide(raw, channel, faults, staging)
                for (raw, channel), faults in zip(items, all_faults, strict=True)
            ]
            events = [event for _, message_events in decided for event in message_events]
            if not events:
                return [outcome for outcome, _ in decided]
            try:
                recordings = self.save(*events)
            except IntegrityError:
                if len(items) > 1:  # another writer got in first: settle each on its own
                    return [self.ingest(raw, channel) for raw, channel in items]
                continue  # reload and decide again
            return _with_positions(decided, recordings)
        raise ConcurrencyError(f"gave up after {self.max_attempts} conflicting saves")

    def _decide(
        self, raw: bytes, channel: str, faults: tuple[Fault, ...], staging: _Staging
    ) -> tuple[IngestOutcome, list[Any]]:
        """The outcome of one message and the events it would store (none unless AA)."""
        code = ack_code_for(faults)
        if code == "AR" and any(f.fatal for f in faults):
            return IngestOutcome("AR", None, raw, faults=faults, text="message rejected"), []
        try:
            msg = parse_message(raw)
        except MessageRejectedError as e:
            outcome = IngestOutcome("AR", None, raw, faults=e.faults, text=e.reason, error_code=100)
            return outcome, []
        if code != "AA":
            text = "message rejected" if code == "AR" else "message has data errors"
            errors = tuple(f for f in faults if f.severity == "E")
            return IngestOutcome(code, msg, raw, faults=errors, text=text), []
        refusal = self._refuse_unsupported(msg)
        if refusal is not None:
            return IngestOutcome("AR", msg, raw, faults=(refusal,), text=refusal.text), []
        try:
            return self._apply(msg, raw, channel, staging)
        except MessageRejectedError as e:
            return IngestOutcome(e.ack_code, msg, raw, faults=e.faults, text=e.reason), []
        except DomainError as e:
            fault = _domain_fault(e, msg)
            return IngestOutcome("AE", msg, raw, faults=(fault,), text=fault.text), []
        except Exception:  # a bug must not take the other messages of the batch down
            log.exception("ingest.internal_error", msg_control_id=msg.control_id)
            fault = Fault(207, "INTERNAL_ERROR", "application internal error; resend later")
            outcome = IngestOutcome("AE", msg, raw, faults=(fault,), text=fault.text)
            return outcome, []

    def _refuse_unsupported(self, msg: Any) -> Fault | None:
        if msg.processing_id not in self.processing_ids:
            allowed = ", ".join(sorted(self.processing_ids))
            return Fault(
                202,
                "UNSUPPORTED_PROCESSING_ID",
                f"processing id {msg.processing_id!r} not accepted here (accepted: {allowed})",
                "MSH",
                1,
                11,
            )
        if msg.message_code not in KNOWN_MESSAGE_CODES:
            return Fault(
                200,
                "UNSUPPORTED_MESSAGE_TYPE",
                f"message type {msg.message_code!r} is not supported",
                "MSH",
                1,
                9,
                component=1,
            )
        if (msg.message_code, msg.trigger_event) not in HANDLERS:
            return Fault(
                201,
                "UNSUPPORTED_EVENT",
                f"event {msg.message_code}^{msg.trigger_event} is not supported",
                "MSH",
                1,
                9,
                component=2,
            )
        return None

    def _apply(
        self, msg: Any, raw: bytes, channel: str, staging: _Staging
    ) -> tuple[IngestOutcome, list[Any]]:
        message_id = message_id_for(msg.field("MSH", 3), msg.field("MSH", 4), msg.field("MSH", 10))
        if staging.has_message(message_id):
            return IngestOutcome("AA", msg, raw, message_id=message_id, duplicate=True), []
        handler = HANDLERS[(msg.message_code, msg.trigger_event)]
        occurred_at = (
            read_datetime(msg.get("EVN", 2), self.site_timezone)
            or read_datetime(msg.get("MSH", 7), self.site_timezone)
            or self.clock.now()
        )
        ctx = MessageContext(message_id, occurred_at, self.site_timezone)
        changed = handler(msg, ctx, staging.load)
        inbound = InboundMessage.receive(
            message_id,
            sending_application=msg.field("MSH", 3),
            sending_facility=msg.field("MSH", 4),
            control_id=msg.control_id,
            message_type=f"{msg.message_code}^{msg.trigger_event}",
            version=msg.version,
            channel=channel,
            raw=msg.raw,
            sha256=hashlib.sha256(raw).hexdigest(),
        )
        events = [e for aggregate in (inbound, *changed) for e in aggregate.collect_events()]
        staging.keep(message_id, changed)
        return IngestOutcome("AA", msg, raw, message_id=message_id), events

    def _load(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


# Domain refusals as ERR: table 0357 code and the field that names the thing refused.
_DOMAIN_FAULTS: dict[type[DomainError], tuple[int, str, int]] = {
    UnknownVisitError: (204, "PV1", 19),
    UnknownPatientError: (204, "MRG", 1),
}


def _domain_fault(error: DomainError, msg: Any) -> Fault:
    code, segment, field = _DOMAIN_FAULTS.get(type(error), (207, "", 0))
    return Fault(
        code,
        type(error).__name__.removesuffix("Error").upper(),
        str(error),
        segment,
        msg.position(segment) if segment else 0,
        field,
    )


class _Staging:
    """The aggregates a batch has changed so far, lent out as copies.

    A handler may change an aggregate and then reject its message; because it
    worked on a copy, the staged original stays as the previous message left it.
    """

    def __init__(self, load: Callable[[UUID], Any], repository: Any) -> None:
        self._load = load
        self._repository = repository
        self._aggregates: dict[UUID, Any] = {}
        self._messages: set[UUID] = set()

    def has_message(self, message_id: UUID) -> bool:
        return message_id in self._messages or message_id in self._repository

    def load(self, aggregate_id: UUID) -> Any:
        staged = self._aggregates.get(aggregate_id)
        if staged is not None:
            return copy.deepcopy(staged)
        return self._load(aggregate_id)

    def keep(self, message_id: UUID, aggregates: Sequence[Any]) -> None:
        self._messages.add(message_id)
        for aggregate in aggregates:
            self._aggregates[aggregate.id] = aggregate


def _with_positions(
    decided: list[tuple[IngestOutcome, list[Any]]], recordings: Sequence[Any]
) -> list[IngestOutcome]:
    """Outcomes with the number and last store position of the events each wrote."""
    outcomes = []
    position = 0
    for outcome, events in decided:
        if events:
            position += len(events)
            outcome = replace(
                outcome,
                events_written=len(events),
                last_notification_id=recordings[position - 1].notification.id,
            )
        outcomes.append(outcome)
    return outcomes
