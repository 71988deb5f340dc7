"""JSON transcodings for carelog's value objects, registered on every application.

The transcoding names are part of the stored format: renaming one makes old
events unreadable, so they are spelled out here rather than derived.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

from engine.domain.appointment import AppointmentDetails
from engine.domain.values import (
    Address,
    Coded,
    ContactPoint,
    EncounterDetails,
    FinancialTransaction,
    Identifier,
    Location,
    Money,
    ObservationValue,
    Participant,
    PatientDetails,
    PersonName,
)

__all__ = ["FastJSONTranscoder", "FastMapper", "register_value_transcodings"]


class _DataclassAsDict(Transcoding):
    """Encodes a frozen dataclass as a dict of its fields (nested values transcode themselves)."""

    def __init__(self, cls: type, name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = tuple(f.name for f in dataclasses.fields(cls))
        # Required fields dropped by encode when empty (a DFT without FT1-2) come back as "".
        self._required = {
            f.name: ""
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }

    def encode(self, obj: Any) -> dict[str, Any]:
        # Empty values are dropped to keep stored events small; decode restores the defaults.
        return {f: v for f in self._fields if (v := getattr(obj, f)) not in ("", (), None)}

    def decode(self, data: dict[str, Any]) -> Any:
        # JSON has no tuples: sequences come back as lists and are made tuples again.
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return self.type(**{**self._required, **values})


def register_value_transcodings(transcoder: JSONTranscoder) -> None:
    """Teaches ``transcoder`` the value objects that domain events carry."""
    for cls, name in (
        (Identifier, "carelog_identifier"),
        (PersonName, "carelog_person_name"),
        (Address, "carelog_address"),
        (ContactPoint, "carelog_contact_point"),
        (PatientDetails, "carelog_patient_details"),
        (Participant, "carelog_participant"),
        (EncounterDetails, "carelog_encounter_details"),
        (Location, "carelog_location"),
        (Coded, "carelog_coded"),
        (ObservationValue, "carelog_observation_value"),
        (Money, "carelog_money"),
        (FinancialTransaction, "carelog_financial_transaction"),
        (AppointmentDetails, "carelog_appointment_details"),
    ):
        transcoder.register(_DataclassAsDict(cls, name))


_MAX_KEYS = 4096  # distinct dict keys remembered as JSON: field names, not data


class _Unusual(Exception):
    """A value the fast writer does not know: the whole object goes the generic way."""


class FastJSONTranscoder(JSONTranscoder):
    """eventsourcing's JSONTranscoder, writing the same bytes with fewer Python calls.

    The generic encoder calls back into Python for every UUID, datetime and
    value object (``default=``), and each callback builds a ``{"_type_",
    "_data_"}`` dict that is then encoded again: ~10 us per event, a fifth of
    ingestion's CPU. Here each registered type gets a writer that appends that
    very text directly, with the encoder's own string escaping
    (``json.encoder.encode_basestring``, as ``ensure_ascii=False`` uses).

    The output is byte-for-byte what ``JSONTranscoder.encode`` writes
    (tests/unit/test_transcodings.py compares them over real events): anything
    the writers do not know exactly (floats, str or int subclasses, non-string
    keys, unregistered types) makes the whole object take the generic path.
    Decoding is eventsourcing's, unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, str] = {}  # dict keys (event field names) as JSON, with the colon
        # An event state's keys likewise; "" marks the two that the stored state leaves out.
        self._event_keys: dict[str, str] = {"originator_id": "", "originator_version": ""}
        self._writers: dict[type, Callable[[Any], str]] = {
            str: encode_basestring,
            int: int.__repr__,
            bool: lambda b: "true" if b else "false",
            type(None): lambda _: "null",
            dict: self._write_dict,
            list: self._write_list,
            tuple: self._write_list,
        }

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        cls = transcoding.type
        if issubclass(cls, (str, int, float, list, tuple, dict)) or cls is type(None):
            return  # json writes these natively, before any transcoding: keep the generic path
        head = '{"_type_":' + encode_basestring(transcoding.name) + ',"_data_":'
        self._writers[cls] = self._writer_for(transcoding, head)

    def _writer_for(self, transcoding: Transcoding, head: str) -> Any:
        if type(transcoding) is UUIDAsHex:
            return lambda o: head + '"' + o.hex + '"}'
        if type(transcoding) is DatetimeAsISO:
            # isoformat() writes only digits and "-:.+T": nothing JSON would escape
            return lambda o: head + '"' + o.isoformat() + '"}'
        if type(transcoding) is _DataclassAsDict:
            fields = transcoding._fields
            keys = [encode_basestring(name) + ":" for name in fields]
            values_of = operator.attrgetter(*fields) if len(fields) > 1 else None
            writers = self._writers

            def write_dataclass(obj: Any) -> str:
                values = values_of(obj) if values_of is not None else (getattr(obj, fields[0]),)
                parts = []
                for key, value in zip(keys, values, strict=True):
                    if value in ("", (), None):
                        continue
                    if type(value) is str:
                        parts.append(key + encode_basestring(value))
                        continue
                    writer = writers.get(type(value))
                    if writer is None:
                        raise _Unusual
                    parts.append(key + writer(value))
                return head + "{" + ",".join(parts) + "}}"

            return write_dataclass
        encode = transcoding.encode
        return lambda o: head + self._write(encode(o)) + "}"

    def _write(self, obj: Any) -> str:
        writer = self._writers.get(type(obj))
        if writer is None:
            raise _Unusual
        return writer(obj)

    def _write_dict(self, obj: dict[Any, Any]) -> str:
        return "{" + ",".join(self._write_pairs(obj, self._keys)) + "}"

    def _write_pairs(self, obj: dict[Any, Any], keys: dict[Any, str]) -> list[str]:
        """``"key":value`` texts of ``obj``, key heads remembered in ``keys``.

        A key remembered with an empty head is left out (an event's
        ``originator_id`` and ``originator_version``). Raises ``_Unusual`` for
        anything ``encode`` must hand to the library's encoder.
        """
        writers = self._writers
        parts = []
        for key, value in obj.items():
            head = keys.get(key)
            if head is None:
                if type(key) is not str:
                    raise _Unusual
                head = encode_basestring(key) + ":"
                if len(keys) < _MAX_KEYS:
                    keys[key] = head
            elif not head:
                continue
            if type(value) is str:
                parts.append(head + encode_basestring(value))
                continue
            writer = writers.get(type(value))
            if writer is None:
                raise _Unusual
            parts.append(head + writer(value))
        return parts

    def _write_list(self, obj: list[Any] | tuple[Any, ...]) -> str:
        return "[" + ",".join([self._write(v) for v in obj]) + "]"

    def encode(self, obj: Any) -> bytes:
        try:
            text = self._write(obj)
        except (_Unusual, RecursionError):
            return super().encode(obj)
        return text.encode("utf8")

    def encode_event_state(self, state: dict[str, Any], class_version: int) -> bytes | None:
        """What ``encode`` writes for ``Mapper.to_stored_event``'s copy of an event's state.

        That copy is ``state`` without ``originator_id`` and ``originator_version``,
        plus ``class_version`` (last) when it is above 1. Written here from
        ``state`` itself, without the copy. ``None``: not a state this writes
        exactly (the caller then takes the generic way).
        """
        if "class_version" in state:
            return None
        try:
            parts = self._write_pairs(state, self._event_keys)
        except (_Unusual, RecursionError):
            return None
        if class_version > 1:
            parts.append('"class_version":' + int.__repr__(class_version))
        return ("{" + ",".join(parts) + "}").encode("utf8")


class FastMapper(Mapper[UUID]):
    """eventsourcing's Mapper, storing the same ``StoredEvent`` with less Python work.

    ``to_stored_event`` copies each event's state, pops two keys, looks its
    topic up and builds the frozen ``StoredEvent`` through its ``__init__``; on
    the ingest hot path that is a quarter of encoding's cost. Here the topic
    and class version are remembered per class and the state is written
    straight from the event's ``__dict__`` (``encode_event_state``). Only with
    a ``FastJSONTranscoder`` and neither cipher nor compressor (Ingestion
    builds it only then); anything else takes eventsourcing's own way.
    tests/unit/test_transcodings.py compares both over every event class.
    """

    def __init__(self, transcoder: FastJSONTranscoder) -> None:
        super().__init__(transcoder)
        self._fast = transcoder
        self._classes: dict[type, tuple[str, int]] = {}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        plan = self._classes.get(cls)
        if plan is None:
            plan = self._classes[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
        topic, class_version = plan
        state = vars(domain_event)
        stored_state = self._fast.encode_event_state(state, class_version)
        if stored_state is None:
            return super().to_stored_event(domain_event)
        return StoredEvent(
            originator_id=state["originator_id"],
            originator_version=state["originator_version"],
            topic=topic,
            state=stored_state,
        )
