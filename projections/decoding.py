"""Stored events back to domain events for projections: the mapper's result, sooner.

Decoding was a third of a replay's time: eventsourcing's mapper parses the
JSON with a generic object hook that looks up every ``{"_type_", "_data_"}``
pair through its transcoding objects. ``event_decoder`` gives the runner a
decoder for the same stored format (nothing about what is written changes)
that takes a few shortcuts where the result is known to be identical:

- the library's own transcodings (``uuid_hex``, ``datetime_iso``,
  ``decimal_str``) are decoded by direct calls (a UUID is built from its 32
  hex digits without ``UUID.__init__``'s parsing of other spellings);
- every other registered transcoding (carelog's value objects) is called as
  the transcoder would call it;
- the event object is then built exactly as ``Mapper.to_domain_event`` does.

Anything else falls back to the mapper itself: a mapper with a cipher or a
compressor, a transcoder or mapper class that changes decoding, and any
event the fast path fails on (so a bad stored event raises the mapper's own
error, with its message).

eventsourcing fence (decoding): the one module that calls the transcoder's
private ``_decode_obj`` (for names without a shortcut, so that an unknown
transcoding name raises the library's own error) and reads its stored format
(the ``_type_``/``_data_`` pairs). The public API decodes a whole stored event
only (``Mapper.to_domain_event``), through the generic object hook this
module exists to avoid. tests/contract compares the decoded events with the
library's plain mapper.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID, SafeUUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from engine.errors import ErasedDataError

__all__ = ["ERASED", "DecodesEvents", "Erased", "event_decoder"]

Decoder = Callable[[Any], Any]


class DecodesEvents(Protocol):
    """A mapper, or what stands in for one: stored events (or notifications) to domain events."""

    def to_domain_event(self, stored: StoredEvent, /) -> Any: ...


_new = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown
_ABSENT = object()


def _uuid_hex(data: Any) -> UUID:
    """``UUID(data)`` for the 32 hex digits ``UUIDAsHex`` writes; anything else as UUID reads it."""
    if type(data) is not str or len(data) != 32 or not data.isalnum():
        return UUID(data)
    value = _new(UUID)
    _set(value, "int", int(data, 16))
    _set(value, "is_safe", _UNKNOWN)
    return value


_SHORTCUTS: dict[type, Callable[[Any], Any]] = {
    UUIDAsHex: _uuid_hex,
    DatetimeAsISO: datetime.fromisoformat,
    DecimalAsStr: Decimal,
}


def _is_plain(obj: Any, base: type, *methods: str) -> bool:
    """Whether ``obj`` is a ``base`` whose class keeps ``base``'s ``methods``."""
    return isinstance(obj, base) and all(getattr(type(obj), m) is getattr(base, m) for m in methods)


class Erased:
    """Stands in for an event whose data key was forgotten (an erased patient).

    No projection handles it, so read models only record its position: a
    replay after an erasure rebuilds them with nothing of that patient.
    """

    __slots__ = ()
    timestamp = datetime.min.replace(tzinfo=UTC)  # as-of filters keep it (it holds nothing)


ERASED = Erased()


class OpensStoredState(Protocol):
    """A mapper that encrypts stored state (adapters/crypto): ``open`` decrypts a record
    for its ``inner`` mapper, which decodes it."""

    inner: Any

    def open(self, stored: StoredEvent, /) -> StoredEvent: ...


def event_decoder(mapper: DecodesEvents) -> Decoder:
    """A function from a stored event (or notification) to its domain event, as ``mapper`` gives.

    The fast decoder when ``mapper`` is a plain eventsourcing Mapper with a
    JSON transcoder and neither cipher nor compressor; ``mapper.to_domain_event``
    otherwise. A mapper that encrypts (``OpensStoredState``) decrypts first and
    decodes with its inner mapper's decoder; a record whose key was erased
    decodes to ``ERASED``, and any other decryption failure raises.
    """
    opener = getattr(mapper, "open", None)
    inner = getattr(mapper, "inner", None)
    if callable(opener) and inner is not None:
        return _opening(opener, event_decoder(inner))
    if (
        not isinstance(mapper, Mapper)
        or not _is_plain(mapper, Mapper, "to_domain_event")
        or mapper.cipher
        or mapper.compressor
    ):
        return mapper.to_domain_event
    transcoder = mapper.transcoder
    if not isinstance(transcoder, JSONTranscoder) or not _is_plain(
        transcoder, JSONTranscoder, "decode", "_decode_obj"
    ):
        return mapper.to_domain_event
    return _FastDecoder(mapper, transcoder).decode


def _opening(opener: Callable[[StoredEvent], StoredEvent], decode: Decoder) -> Decoder:
    def open_and_decode(stored: StoredEvent) -> Any:
        try:
            plain = opener(stored)
        except ErasedDataError:
            return ERASED
        return decode(plain)

    return open_and_decode


class _FastDecoder:
    def __init__(self, mapper: Mapper[Any], transcoder: JSONTranscoder) -> None:
        self._mapper = mapper
        decoders: dict[str, Callable[[Any], Any]] = {}
        for name, transcoding in transcoder.names.items():
            shortcut = _SHORTCUTS.get(type(transcoding))
            decoders[name] = shortcut if shortcut is not None else transcoding.decode
        fallback = transcoder._decode_obj  # raises the library's error for unknown names

        def hook(d: dict[str, Any]) -> Any:
            if len(d) == 2:
                name = d.get("_type_", _ABSENT)
                if name is not _ABSENT and "_data_" in d:
                    decode = decoders.get(name)
                    if decode is None:
                        return fallback(d)
                    return decode(d["_data_"])
            return d

        self._loads = json.JSONDecoder(object_hook=hook).decode

    def decode(self, stored: StoredEvent) -> Any:
        """The domain event ``stored`` holds, exactly as ``Mapper.to_domain_event`` builds it."""
        try:
            cls = resolve_topic(stored.topic)
            state: dict[str, Any] = self._loads(stored.state.decode("utf8"))
            originator_id = stored.originator_id
            # mypy checks a class's __hash__ as unbound, so no class passes for Hashable.
            convert = find_id_convertor(cls, type(originator_id))  # type: ignore[arg-type]
            state["originator_id"] = convert(originator_id)
            state["originator_version"] = stored.originator_version
            class_version = getattr(cls, "class_version", 1)
            from_version = state.pop("class_version", 1)
            while from_version < class_version:
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
        except Exception:
            # The mapper decodes it again: the same event, or the mapper's own error.
            return self._mapper.to_domain_event(stored)
        event = _new(cls)
        _set(event, "__dict__", state)
        return event
