"""Envelope encryption of stored event state: each record under its patient's data key.

``EnvelopeMapper`` wraps the application's own mapper (transcoder, fast
writer): the stored state it writes is the inner mapper's bytes sealed with
AES-256-GCM under a data key from the ``Keyring``; reading opens them first.
The associated data binds each ciphertext to its record (originator id,
version, topic, key id), so a state moved to another row, a flipped byte or
a wrong master key fails, with the record named (``StoredStateError``).

Stored state: ``MAGIC`` (2 bytes) | key id (16) | nonce (12) | ciphertext+tag.

Which key: the patient's for Patient events (the aggregate id) and for
any event naming ``patient_id`` (visits, accounts, reports, from their first
event); an aggregate's later events take its first event's key (remembered,
or read from its first stored record); a received source (the raw message)
takes the key of the patient its events concern, which ``EnvelopeEventStore``
works out from the commit before anything is encoded (events name their
source in ``source_message_id``). Anything else: the shared key.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from eventsourcing.persistence import (
    AggregateRecorder,
    EventStore,
    Mapper,
    Notification,
    Recording,
    StoredEvent,
)
from eventsourcing.utils import get_topic

from adapters.crypto.keys import SHARED, Keyring
from engine.errors import StoredStateError

__all__ = ["MAGIC", "EnvelopeEventStore", "EnvelopeMapper", "at_rest"]

MAGIC = b"\xce\x01"
_HEAD = len(MAGIC) + 16 + 12
_PATIENT_TOPIC = "engine.domain.patient:Patient."
_MESSAGE_TOPIC = "engine.domain.message:InboundMessage."
_REMEMBERED = 200_000  # aggregate -> key id entries kept (ids only, no data)


def _where(stored: StoredEvent) -> str:
    position = f"position {stored.id}, " if isinstance(stored, Notification) else ""
    return f"{position}aggregate {stored.originator_id} version {stored.originator_version}"


def _aad(originator_id: Any, version: int, topic: str, key_id: bytes) -> bytes:
    oid = originator_id.bytes if isinstance(originator_id, UUID) else str(originator_id).encode()
    return b"carelog/1|" + oid + version.to_bytes(8, "big") + key_id + topic.encode()


class EnvelopeMapper(Mapper[UUID]):
    """The inner mapper's stored events, sealed per data key; see the module docstring."""

    def __init__(self, inner: Mapper[UUID], keyring: Keyring) -> None:
        super().__init__(inner.transcoder)
        self.inner = inner
        self.keyring = keyring
        self.recorder: AggregateRecorder | None = None  # set by EnvelopeEventStore
        self._keys: dict[Any, bytes] = {}  # aggregate id -> key id
        self._topics: dict[type, str] = {}
        self._lock = threading.Lock()

    # -- which key -------------------------------------------------------------

    def _remember(self, aggregate_id: Any, key_id: bytes) -> None:
        if len(self._keys) >= _REMEMBERED:
            self._keys.clear()
        self._keys[aggregate_id] = key_id

    def _topic(self, event: Any) -> str:
        cls = type(event)
        topic = self._topics.get(cls)
        if topic is None:
            topic = self._topics[cls] = get_topic(cls)
        return topic

    def _patient_key(self, event: Any) -> bytes | None:
        """The key id an event gets by itself (Patient events, events naming a patient)."""
        if self._topic(event).startswith(_PATIENT_TOPIC):
            return self.keyring.key_for(event.originator_id.hex)[0]
        patient = getattr(event, "patient_id", None)
        if isinstance(patient, UUID):
            return self.keyring.key_for(patient.hex)[0]
        return None

    def _first_key(self, aggregate_id: Any) -> bytes | None:
        """The key id of an aggregate's first stored record (a later event of it follows)."""
        if self.recorder is None:
            return None
        for stored in self.recorder.select_events(aggregate_id, lte=1):
            if stored.state[: len(MAGIC)] == MAGIC:
                return bytes(stored.state[len(MAGIC) : len(MAGIC) + 16])
        return None

    def plan(self, events: Sequence[Any]) -> None:
        """Assigns keys to a commit's aggregates before encoding (sources after their patient)."""
        sources: dict[Any, bytes] = {}
        owners = {SHARED}
        for event in events:
            if self._topic(event).startswith(_PATIENT_TOPIC):
                owners.add(event.originator_id.hex)
            elif isinstance(patient := getattr(event, "patient_id", None), UUID):
                owners.add(patient.hex)
        self.keyring.ensure(owners)
        for event in events:
            key_id = self._patient_key(event)
            oid = event.originator_id
            if key_id is None:
                key_id = self._keys.get(oid)
                if key_id is None and event.originator_version > 1:
                    key_id = self._first_key(oid)
            if key_id is None:
                continue
            self._remember(oid, key_id)
            source = getattr(event, "source_message_id", None)
            if source is not None and source not in sources:
                sources[source] = key_id
        for source, key_id in sources.items():
            self._remember(source, key_id)

    def _key_of(self, event: Any) -> bytes:
        key_id = self._patient_key(event)
        if key_id is None:
            key_id = self._keys.get(event.originator_id)
        if key_id is None:
            key_id = self.keyring.key_for(SHARED)[0]
        return key_id

    # -- sealing ---------------------------------------------------------------

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        plain = self.inner.to_stored_event(domain_event)
        key_id = self._key_of(domain_event)
        cipher = self.keyring.cipher(key_id)
        nonce = secrets.token_bytes(12)
        aad = _aad(plain.originator_id, plain.originator_version, plain.topic, key_id)
        sealed = cipher.encrypt(nonce, plain.state, aad)
        return StoredEvent(
            originator_id=plain.originator_id,
            originator_version=plain.originator_version,
            topic=plain.topic,
            state=MAGIC + key_id + nonce + sealed,
        )

    def open(self, stored: StoredEvent) -> StoredEvent:
        """``stored`` with its state decrypted (a Notification stays one, with its id).

        Raises:
            StoredStateError: not sealed, altered, moved to another record, or wrong keys.
            ErasedDataError: its data key was forgotten.
        """
        state = bytes(stored.state)
        if len(state) < _HEAD + 16 or state[: len(MAGIC)] != MAGIC:
            raise StoredStateError(f"stored event at {_where(stored)} is not encrypted")
        key_id = state[len(MAGIC) : len(MAGIC) + 16]
        cipher = self.keyring.cipher(key_id)
        aad = _aad(stored.originator_id, stored.originator_version, stored.topic, key_id)
        try:
            plain = cipher.decrypt(state[len(MAGIC) + 16 : _HEAD], state[_HEAD:], aad)
        except InvalidTag as e:
            raise StoredStateError(
                f"stored event at {_where(stored)} fails authentication: altered, "
                "moved from another record, or sealed under other keys"
            ) from e
        self._remember(stored.originator_id, key_id)
        if isinstance(stored, Notification):
            return Notification(
                id=stored.id,
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                state=plain,
            )
        return StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=plain,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.inner.to_domain_event(self.open(stored_event))

    def event_store(self, recorder: AggregateRecorder) -> EnvelopeEventStore:
        """The event store Ingestion uses with this mapper."""
        return EnvelopeEventStore(self, recorder)


class EnvelopeEventStore(EventStore[UUID]):
    """eventsourcing's EventStore, letting the mapper plan a commit's keys first."""

    def __init__(self, mapper: EnvelopeMapper, recorder: AggregateRecorder) -> None:
        super().__init__(mapper, recorder)
        mapper.recorder = recorder
        self._envelope = mapper

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> list[Recording[UUID]]:
        self._envelope.plan(domain_events)
        return super().put(domain_events, **kwargs)


def at_rest(env: Mapping[str, str], mapper: Mapper[UUID]) -> EnvelopeMapper:
    """The ``AT_REST_MAPPER_TOPIC`` factory Ingestion calls: its mapper, encrypting.

    The master key file is created on first use only by ``serve`` (bootstrap
    creates it); every other process needs it to exist already.
    """
    return EnvelopeMapper(mapper, Keyring.open(env, create=False))
