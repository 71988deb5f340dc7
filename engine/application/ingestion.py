"""The Ingestion service: one inbound HL7 v2 message in, committed events and an outcome out.

validate (native, through the port) -> read the header -> check what is
supported -> decide on aggregates -> save them with the InboundMessage in one
transaction. Only after that save returns is the outcome AA, so an ACK can
never run ahead of the commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, Generic, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Recording,
    Transcoder,
)
from eventsourcing.utils import resolve_topic

from engine.application.adt import HANDLERS as ADT_HANDLERS
from engine.application.adt import Handler, MessageContext, patient_id_in, visit_id
from engine.application.billing import post_transactions
from engine.application.cache import EventCache, project
from engine.application.decisions import Decision, Session
from engine.application.outcome import IngestOutcome
from engine.application.rejections import record_rejections
from engine.application.results import report_results
from engine.application.scheduling import HANDLERS as SCHEDULING_HANDLERS
from engine.application.scheduling import named_aggregates as scheduling_aggregates
from engine.application.sources import ReceivedSource
from engine.application.transcodings import (
    FastJSONTranscoder,
    FastMapper,
    register_value_transcodings,
)
from engine.domain.access import AccessRecord
from engine.domain.ids import message_id_for
from engine.domain.message import InboundMessage
from engine.domain.rejected import RejectedMessage
from engine.errors import (
    ConcurrencyError,
    DomainError,
    ErasedDataError,
    MessageRejectedError,
    UnknownPatientError,
    UnknownVisitError,
)
from engine.hl7.datatypes import read_datetime
from engine.hl7.message import Message, parse_message
from engine.hl7.resend import resend_digest
from engine.ports import BulkEventReader, Clock, Fault, MessageValidator

__all__ = ["AT_REST_KEY", "Ingestion", "Recorded"]

AT_REST_KEY = "AT_REST_MAPPER_TOPIC"  # engine.config.AT_REST_ENV_KEY sets it
"""Application env key: topic of ``f(env, mapper) -> mapper`` encrypting stored state."""

T = TypeVar("T")

log = structlog.get_logger(__name__)

_UNSUPPORTED_CODES = frozenset({200, 201, 202, 203})
HANDLERS: dict[tuple[str, str], Handler] = {
    **ADT_HANDLERS,
    ("ORU", "R01"): report_results,
    ("DFT", "P03"): post_transactions,
    **SCHEDULING_HANDLERS,
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
        cache_size: int = 10_000,
        log_rejected: bool = False,
    ) -> None:
        super().__init__(env)
        # Refused messages (AE/AR) stored as RejectedMessage for the console's message log;
        # the composition root turns it on (CARELOG_MESSAGE_LOG, default true).
        self.log_rejected = log_rejected
        self._cache = EventCache(cache_size)
        recorder = self.recorder
        self._bulk: BulkEventReader | None = (
            recorder if isinstance(recorder, BulkEventReader) else None
        )
        self.validator = validator
        self.clock = clock
        self.site_timezone = site_timezone
        self.processing_ids = processing_ids
        self.max_attempts = max_attempts
        # Called with each commit's recordings right after it (on the committing
        # thread): lets the process's own readers take the events from memory.
        self.on_recorded: Callable[[Sequence[Recording[UUID]]], None] | None = None

    def construct_transcoder(self) -> Transcoder:
        """eventsourcing's default JSON transcoder, with the faster (same bytes) encoder."""
        transcoder = self.factory.transcoder()
        if type(transcoder) is JSONTranscoder:
            transcoder = FastJSONTranscoder()
        if isinstance(transcoder, JSONTranscoder):
            self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        """eventsourcing's mapper; the faster (same stored events) one when nothing is added.

        With a cipher or a compressor, or another transcoder, the library's is kept.
        """
        mapper = super().construct_mapper()
        transcoder = mapper.transcoder
        plain = type(mapper) is Mapper and mapper.cipher is None and mapper.compressor is None
        if plain and isinstance(transcoder, FastJSONTranscoder):
            mapper = FastMapper(transcoder)
        # Data at rest (adapters/crypto): a factory named by topic wraps the mapper,
        # so that every process building this application (replay workers too) encrypts.
        if topic := self.env.get(AT_REST_KEY):
            mapper = resolve_topic(topic)(self.env, mapper)
        return mapper

    def construct_event_store(self) -> EventStore[UUID]:
        """eventsourcing's; the at-rest mapper's own if it brings one (it plans keys per commit)."""
        make = getattr(self.mapper, "event_store", None)
        return make(self.recorder) if make is not None else super().construct_event_store()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_transcodings(transcoder)

    def ingest(self, raw: bytes, channel: str = "") -> IngestOutcome:
        """Applies one message; the outcome says which ACK it deserves.

        Rejected messages (AE/AR) change no patient or visit (they are only logged,
        as RejectedMessage). A message already stored under the same MSH-3, MSH-4
        and MSH-10 is answered AA and adds no event when its content is the same
        but for MSH-7 (a resend), AE 205 otherwise.

        Raises:
            ConcurrencyError: other writers kept changing the same aggregates.
        """
        return self.ingest_many([(raw, channel)])[0]

    def ingest_many(self, items: Sequence[tuple[bytes, str]]) -> list[IngestOutcome]:
        """Applies several messages in one transaction (group commit), in order.

        Each message is decided as if the ones before it were already stored: a
        staging area lends it the aggregates they changed, rebuilt from events,
        and keeps its changes only if it is accepted, so a rejected message
        leaves no trace. All accepted messages' events are saved together; every
        outcome is AA only after that single commit.

        The first attempt does not look the messages up: a message already
        stored makes the commit conflict on its InboundMessage (version 1
        exists), and so does any other writer that got in first. After a
        conflict the messages are settled one by one, looked up first.

        Raises:
            ConcurrencyError: other writers kept changing the same aggregates.
        """
        all_faults = self.validator.validate_many([raw for raw, _ in items])
        read = [self._read(raw, faults) for (raw, _), faults in zip(items, all_faults, strict=True)]
        careful = False
        for _ in range(self.max_attempts):
            head = self._check_and_prefetch(read)
            staging = _Staging(
                self._committed_events,
                self._message_stored,
                careful=careful,
                build=self._cache.build,
            )
            decided = [
                (msg, []) if isinstance(msg, IngestOutcome) else self._decide(msg, raw, ch, staging)
                for (raw, ch), msg in zip(items, read, strict=True)
            ]
            decided, rejected = self._log_rejections(decided, [ch for _, ch in items])
            events = [event for _, message_events in decided for event in message_events]
            if not events and not rejected:
                return [outcome for outcome, _ in decided]
            recordings = self._save([*events, *rejected], head)
            if recordings is None:
                if len(items) > 1:  # a resend, or another writer got in first: one by one
                    return [self._ingest_one(raw, channel) for raw, channel in items]
                careful = True
                continue  # reload and decide again
            return _with_positions(decided, recordings)
        raise ConcurrencyError(f"gave up after {self.max_attempts} conflicting saves")

    def _ingest_one(self, raw: bytes, channel: str) -> IngestOutcome:
        """One message, looked up before it is decided (after a conflicting group commit)."""
        msg = self._read(raw, self.validator.validate_many([raw])[0])
        for _ in range(self.max_attempts):
            head = self._check_cache()
            staging = _Staging(
                self._committed_events, self._message_stored, careful=True, build=self._cache.build
            )
            outcome, events = (
                (msg, [])
                if isinstance(msg, IngestOutcome)
                else self._decide(msg, raw, channel, staging)
            )
            [(outcome, events)], rejected = self._log_rejections([(outcome, events)], [channel])
            if not events and not rejected:
                return outcome
            recordings = self._save([*events, *rejected], head)
            if recordings is None:
                continue
            return _with_positions([(outcome, events)], recordings)[0]
        raise ConcurrencyError(f"gave up after {self.max_attempts} conflicting saves")

    def _log_rejections(
        self, decided: list[tuple[IngestOutcome, list[Any]]], channels: Sequence[str]
    ) -> tuple[list[tuple[IngestOutcome, list[Any]]], list[Any]]:
        """Each refused outcome named by its message log entry, and that entry's events.

        Off (``log_rejected`` False) nothing is added: a refused message leaves no trace.
        """
        if not self.log_rejected:
            return decided, []
        outcomes, rejected = record_rejections(
            [outcome for outcome, _ in decided], channels, self.clock.now()
        )
        return [(o, ev) for o, (_, ev) in zip(outcomes, decided, strict=True)], rejected

    def record(
        self,
        source: ReceivedSource,
        decide: Callable[[Session, Decision], T],
        named: Sequence[UUID] = (),
    ) -> Recorded[T]:
        """Decides on a received source (a FHIR write) and saves its events with it, or nothing.

        ``decide`` loads through the session and lets decisions change what it
        loaded; its result is returned with the session it worked on (the
        aggregates with their new versions). A source already stored (a resend
        with the same key) changes nothing; a ``DomainError`` or
        ``MessageRejectedError`` from ``decide`` propagates and nothing is
        saved. The source is stored only when it changed something. On a
        conflicting save (another writer, another process) it decides again.
        ``named`` are aggregates ``decide`` will load: read in one round trip.

        Raises:
            ConcurrencyError: other writers kept changing the same aggregates.
        """
        for _ in range(self.max_attempts):
            head = self._prefetch(named)
            staging = _Staging(
                self._committed_events, self._message_stored, careful=True, build=self._cache.build
            )
            session = Session(staging.load)
            now = _Now(source.source_id, self.clock.now())
            if staging.stored(source.source_id):
                return self._resent(source, decide, session, now)
            result = decide(session, now)
            events = [e for aggregate in session.pending() for e in aggregate.collect_events()]
            if not events:
                return Recorded(result, session)
            inbound = InboundMessage.receive(
                source.source_id,
                sending_application=source.sender,
                sending_facility="",
                control_id=source.control_id,
                message_type=source.kind,
                version=source.version,
                channel=source.channel,
                raw=source.raw,
                sha256=source.sha256,
            )
            events = [*inbound.collect_events(), *events]
            recordings = self._save(events, head)
            if recordings is None:
                continue
            return Recorded(result, session, len(events), recordings[-1].notification.id)
        raise ConcurrencyError(f"gave up after {self.max_attempts} conflicting saves")

    def _resent(
        self,
        source: ReceivedSource,
        decide: Callable[[Session, Decision], T],
        session: Session,
        now: Decision,
    ) -> Recorded[T]:
        """A source stored before: decided again only to name what it refers to, never saved.

        If it no longer applies (later writes moved on), it still changed
        nothing: the answer is the same, without the result.
        """
        log.info("record.resent", source_id=str(source.source_id))
        try:
            result: T | None = decide(session, now)
        except Exception:  # whatever refuses it now, the resend is a no-op, as for MLLP
            result = None
        return Recorded(result, session, duplicate=True)

    def record_access(self, records: Sequence[AccessRecord]) -> int:
        """Stores access-log records in one transaction; returns the last position.

        Call it from the thread that ingests (the single writer): the event
        cache then follows the head instead of being emptied, and readers
        (the sealer) get the recordings handed over like any commit's.
        """
        events = [e for record in records for e in record.collect_events()]
        if not events:
            return 0
        recordings = self._save(events, self._check_cache())
        if recordings is None:  # new aggregates with fresh ids: no other writer has them
            raise ConcurrencyError("access-log records collided with stored events")
        return int(recordings[-1].notification.id) if recordings else 0

    def record_refused(self, entry: RejectedMessage) -> str:
        """Stores a frame refused before ingestion (``rejections.refused_frame``); its log id.

        Call it from the thread that ingests (the single writer), like ``record_access``.
        """
        recordings = self._save(list(entry.collect_events()), self._check_cache())
        if recordings is None:  # a new aggregate with a fresh id: no other writer has it
            raise ConcurrencyError("a refused frame's log entry collided with stored events")
        return str(entry.id)

    def _save(self, events: list[Any], head: int | None) -> Sequence[Recording[UUID]] | None:
        """Commits ``events`` in one transaction and hands them to this process's readers.

        None when the store refused them because another writer got in first
        (or the source was stored before): the cache is emptied, the caller
        decides again.
        """
        try:
            recordings = self.events.put(events)
        except IntegrityError:
            self._cache.clear()
            return None
        self._remember(events, recordings, head)
        if self.on_recorded is not None:
            self.on_recorded(recordings)
        return recordings

    def current(self, aggregate_id: UUID) -> Any:
        """An aggregate as ingestion would decide on it now (cache or store); None if absent.

        A fresh copy each call: changing it changes nothing stored.
        """
        self._check_cache()
        return project(self._committed_events(aggregate_id))

    def _check_cache(self) -> int | None:
        """The store's head; empties the cache when someone else has written since we looked."""
        if self._cache.maxsize <= 0:
            return None
        head = self.recorder.max_notification_id() or 0
        self._cache.check_head(head)
        return head

    def _remember(self, events: list[Any], recordings: Sequence[Any], head: int | None) -> None:
        """Adds a commit to the cache (which starts afresh if another writer slipped in first)."""
        if head is None or not recordings:
            return
        self._cache.committed(
            events,
            head=head,
            first=recordings[0].notification.id,
            last=recordings[-1].notification.id,
            skip=(InboundMessage.Received, AccessRecord.Recorded, RejectedMessage.Recorded),
        )

    def _committed_events(self, aggregate_id: UUID) -> tuple[Any, ...]:
        """The stored events of an aggregate, from the cache when it knows them."""
        events = self._cache.get(aggregate_id)
        if events is None:
            generation = self._cache.generation
            events = tuple(self.events.get(aggregate_id))
            self._cache.put_read(generation, {aggregate_id: events})
        return events

    def _check_and_prefetch(self, read: Sequence[Message | IngestOutcome]) -> int | None:
        """``_check_cache``, and the patients and visits the batch names that the cache lacks."""
        return self._prefetch(
            aggregate_id
            for msg in read
            if not isinstance(msg, IngestOutcome)
            for aggregate_id in _named_aggregates(msg)
        )

    def _prefetch(self, named: Iterable[UUID]) -> int | None:
        """``_check_cache``, and the ``named`` aggregates that the cache lacks.

        When the recorder can (``BulkEventReader``), the head and those
        aggregates are read in one round trip (one read transaction on SQLite):
        the head check and the prefetch were a transaction each, per commit.
        The ids are chosen before the head is known: if the head moved (another
        writer), the cache is emptied and what was read is kept, being exactly
        the store up to that head; the rest of the batch's aggregates are then
        read when a handler loads them, as is any aggregate not guessed here.
        """
        reader = self._bulk
        if self._cache.maxsize <= 0 or reader is None:
            return self._check_cache()
        wanted = list({aggregate_id for aggregate_id in named if aggregate_id not in self._cache})
        generation = self._cache.generation
        head, stored_events = reader.select_head_and_events(wanted)
        found: dict[UUID, list[Any]] = {aggregate_id: [] for aggregate_id in wanted}
        erased = set()
        for stored in stored_events:
            try:
                found[stored.originator_id].append(self.mapper.to_domain_event(stored))
            except ErasedDataError:  # not cached: its message is refused when it loads it
                erased.add(stored.originator_id)
        histories = {i: tuple(events) for i, events in found.items() if i not in erased}
        self._cache.check_head(head, generation=generation, histories=histories)
        return head

    def _message_stored(self, message_id: UUID) -> bool:
        return bool(self.recorder.select_events(message_id, limit=1))

    def _read(self, raw: bytes, faults: tuple[Fault, ...]) -> Message | IngestOutcome:
        """The parsed message, or the outcome of one refused before any store is read."""
        code = ack_code_for(faults)
        if code == "AR" and any(f.fatal for f in faults):
            return IngestOutcome("AR", None, raw, faults=faults, text="message rejected")
        try:
            msg = parse_message(raw)
        except MessageRejectedError as e:
            return IngestOutcome("AR", None, raw, faults=e.faults, text=e.reason, error_code=100)
        if code != "AA":
            text = "message rejected" if code == "AR" else "message has data errors"
            errors = tuple(f for f in faults if f.severity == "E")
            return IngestOutcome(code, msg, raw, faults=errors, text=text)
        refusal = self._refuse_unsupported(msg)
        if refusal is not None:
            return IngestOutcome("AR", msg, raw, faults=(refusal,), text=refusal.text)
        return msg

    def _decide(
        self, msg: Message, raw: bytes, channel: str, staging: _Staging
    ) -> tuple[IngestOutcome, list[Any]]:
        """The outcome of one readable, supported message and the events it would store."""
        message_id = message_id_for(msg.field("MSH", 3), msg.field("MSH", 4), msg.field("MSH", 10))
        if staging.has_message(message_id):
            return _resent(msg, raw, message_id, staging), []
        try:
            return self._apply(msg, raw, channel, message_id, staging)
        except (MessageRejectedError, DomainError) as e:
            # A resend of a stored message is AA, even if applying it again would be refused.
            if not staging.careful and staging.stored(message_id):
                return _resent(msg, raw, message_id, staging), []
            if isinstance(e, MessageRejectedError):
                # Handlers locate by place in the message; the ACK carries ERL-2.
                faults = tuple(msg.located(f) for f in e.faults)
                return IngestOutcome(e.ack_code, msg, raw, faults=faults, text=e.reason), []
            fault = msg.located(_domain_fault(e, msg))
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
        self, msg: Any, raw: bytes, channel: str, message_id: UUID, staging: _Staging
    ) -> tuple[IngestOutcome, list[Any]]:
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
        staging.keep(message_id, events)
        return IngestOutcome("AA", msg, raw, message_id=message_id), events


@dataclass(frozen=True, slots=True)
class _Now:
    """The Decision of a received source decided now."""

    source_id: UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Recorded(Generic[T]):
    """What ``Ingestion.record`` came to: the decision's result, the session it decided
    in, how many events were saved and the store position of the last one.
    ``duplicate``: the source was stored before (a resend); nothing was decided.
    """

    result: T | None
    session: Session
    events_written: int = 0
    last_notification_id: int | None = None
    duplicate: bool = False


def _named_aggregates(msg: Message) -> list[UUID]:
    """The patients (PID-3, MRG-1) and visit (PV1-19) a message names: what it will load.

    Read through the same memoised helpers as the handlers, so the handler finds
    them already parsed.
    """
    ids = [
        patient_id
        for segment, field in (("PID", 3), ("MRG", 1))
        if (patient_id := patient_id_in(msg, segment, field)) is not None
    ]
    visit = visit_id(msg)
    if visit is not None:
        ids.append(visit)
    if msg.message_code == "SIU":
        ids.extend(scheduling_aggregates(msg))
    return ids


def _resent(msg: Message, raw: bytes, message_id: UUID, staging: _Staging) -> IngestOutcome:
    """A message whose MSH-3/4/10 is already stored (or accepted earlier in the batch).

    The same content (``resend_digest``: all but MSH-7 and line endings) is a
    resend: AA, nothing changes. Other content is a new message under a used
    control id: AE 205 on MSH-10, nothing changes, so the sender keeps it in
    its error queue and sends it again under a new control id. AA would say
    it was applied when it was dropped.
    """
    if staging.same_content(message_id, msg.raw):
        return IngestOutcome("AA", msg, raw, message_id=message_id, duplicate=True)
    log.warning(
        "ingest.control_id_reused",
        msg_control_id=msg.control_id,
        message_id=str(message_id),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    fault = Fault(
        205,
        "CONTROL_ID_REUSED",
        f"control id {msg.control_id!r} from this sending application and facility was"
        " already used for a message with other content; this message was not applied:"
        " send it with a new MSH-10",
        "MSH",
        1,
        10,
    )
    return IngestOutcome("AE", msg, raw, faults=(fault,), text=fault.text)


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
    """What a batch has decided so far: aggregates are lent out rebuilt from events.

    Each load rebuilds a fresh aggregate from the committed events (cache or
    store) plus those of the messages accepted earlier in the batch. A handler
    may change it and then reject its message; nothing staged is touched.
    ``careful`` says whether messages are looked up in the store before they
    are decided (after a conflict) or only when applying one was refused.
    """

    def __init__(
        self,
        committed: Callable[[UUID], tuple[Any, ...]],
        stored: Callable[[UUID], bool],
        *,
        careful: bool,
        build: Callable[[UUID, tuple[Any, ...]], Any] | None = None,
    ) -> None:
        self._committed = committed
        self._build = build
        self.stored = stored
        self.careful = careful
        self._pending: dict[UUID, tuple[Any, ...]] = {}  # committed + accepted in this batch
        self._messages: dict[UUID, str] = {}  # accepted in this batch: their resend digests

    def has_message(self, message_id: UUID) -> bool:
        """Accepted earlier in this batch, or (when careful) already in the store."""
        return message_id in self._messages or (self.careful and self.stored(message_id))

    def same_content(self, message_id: UUID, text: str) -> bool:
        """Whether ``text`` is a resend of the message accepted (or stored) under that id."""
        digest = self._messages.get(message_id)
        if digest is None:
            first = next(iter(self._committed(message_id)), None)
            if not isinstance(first, InboundMessage.Received):
                return False  # pragma: no cover - the id is a message's by construction
            digest = resend_digest(first.raw)
        return digest == resend_digest(text)

    def load(self, aggregate_id: UUID) -> Any:
        events = self._pending.get(aggregate_id)
        if events is None:
            events = self._pending[aggregate_id] = self._committed(aggregate_id)
        if self._build is not None:
            return self._build(aggregate_id, events)
        return project(events)

    def keep(self, message_id: UUID, events: Sequence[Any]) -> None:
        """Stages an accepted message's events on the aggregates they belong to."""
        received = next((e for e in events if isinstance(e, InboundMessage.Received)), None)
        self._messages[message_id] = resend_digest(received.raw) if received is not None else ""
        for event in events:
            base = self._pending.get(event.originator_id)
            if base is not None:  # else never loaded here (the InboundMessage): nothing reads it
                self._pending[event.originator_id] = (*base, event)


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
