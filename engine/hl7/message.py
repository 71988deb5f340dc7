"""A light HL7 v2 reader: split once on the message's own separators, decode on demand.

hl7apy's full parse costs ~40 ms a message; carelog reads a dozen fields, so it
splits segments and fields once and unescapes only the values it is asked for.
The separators come from each message's MSH-1 and MSH-2, never assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from engine.errors import ParseError
from engine.ports import Fault

__all__ = [
    "Message",
    "Separators",
    "component_of",
    "components",
    "decode_bytes",
    "parse_message",
    "subcomponent_of",
]

_SEGMENT_SPLIT = re.compile(r"\r\n|\r|\n")

# MSH-18 character set names (HL7 table 0211) to Python codecs.
_CHARSETS = {
    "": "ascii",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/5": "iso8859-5",
    "8859/7": "iso8859-7",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-16": "utf-16",
}


@dataclass(frozen=True, slots=True)
class Separators:
    """The five delimiters of one message, read from its MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it must be echoed in an ACK."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation

    def escape_text(self, value: str) -> str:
        """Escapes delimiters in ``value`` so that it can be placed in a field."""
        e = self.escape
        out = value.replace(e, f"{e}E{e}")
        for char, code in (
            (self.field, "F"),
            (self.component, "S"),
            (self.subcomponent, "T"),
            (self.repetition, "R"),
        ):
            out = out.replace(char, f"{e}{code}{e}")
        return out.replace("\r", f"{e}.br{e}").replace("\n", f"{e}.br{e}")

    def unescape(self, value: str) -> str:
        """Resolves escape sequences in a value already split from its delimiters."""
        e = self.escape
        if e not in value:
            return value
        out: list[str] = []
        i = 0
        n = len(value)
        while i < n:
            ch = value[i]
            if ch != e:
                out.append(ch)
                i += 1
                continue
            end = value.find(e, i + 1)
            if end < 0:  # unterminated: the validator reports it; keep the text
                out.append(value[i:])
                break
            out.append(self._escape_value(value[i + 1 : end]))
            i = end + 1
        return "".join(out)

    def _escape_value(self, code: str) -> str:
        simple = {
            "F": self.field,
            "S": self.component,
            "T": self.subcomponent,
            "R": self.repetition,
            "E": self.escape,
            ".br": "\n",
            "H": "",
            "N": "",
        }
        if code in simple:
            return simple[code]
        if code[:1] == "X" and len(code) % 2 == 1:
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return ""
        return ""  # formatting (.sp, .in ...) and charset escapes carry no text


_DEFAULT = Separators()


def decode_bytes(raw: bytes) -> str:
    """Decodes a message by its MSH-18 character set (ASCII when empty).

    Senders often send UTF-8 while declaring nothing; ASCII that fails is tried
    as UTF-8, then Latin-1, so that no byte sequence makes the message unreadable.
    """
    charset = ""
    cr = raw.find(b"\r")
    if cr < 0:
        cr = len(raw)
    header_end = raw.find(b"\n", 0, cr)  # the header ends at the first CR or LF
    header = raw[: cr if header_end < 0 else header_end]
    if header[:3] == b"MSH" and len(header) > 3:
        fields = header.split(header[3:4])
        if len(fields) > 17:
            charset = fields[17].split(b"~")[0].decode("ascii", "replace").strip().upper()
    codec = _CHARSETS.get(charset, "utf-8")
    for candidate in (codec, "utf-8", "latin-1"):
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")  # pragma: no cover - latin-1 decodes any byte


class Message:
    """One HL7 v2 message, split into segments and fields.

    Field numbers follow HL7: ``get("MSH", 9)`` is MSH-9 even though MSH-1 is
    the separator itself. Values come back unescaped; an absent value is ``""``
    and the HL7 null ``""`` comes back as the two-character string ``'""'`` so
    that updates can tell "delete" from "not sent".
    """

    __slots__ = (
        "_index",
        "_msh3",
        "_msh4",
        "_msh9_1",
        "_msh9_2",
        "_msh10",
        "_msh11",
        "_msh12",
        "memo",
        "raw",
        "segments",
        "separators",
    )

    def __init__(self, raw: str, separators: Separators, segments: list[list[str]]) -> None:
        self.raw = raw
        self.separators = separators
        self.segments = segments
        index: dict[str, list[list[str]]] = {}
        for seg in segments:
            index.setdefault(seg[0], []).append(seg)
        self._index = index
        # Values read from this message and worth keeping (identifiers, ids): the
        # application fills it, so that a field it reads twice is parsed once.
        self.memo: dict[object, object] = {}
        self._msh3: str | None = None
        self._msh4: str | None = None
        self._msh9_1: str | None = None
        self._msh9_2: str | None = None
        self._msh10: str | None = None
        self._msh11: str | None = None
        self._msh12: str | None = None

    def segments_named(self, segment_id: str) -> list[list[str]]:
        """Every occurrence of a segment, in message order (raw fields)."""
        return self._index.get(segment_id, [])

    def position(self, segment_id: str, occurrence: int = 1) -> int:
        """The 1-based place of a segment among all the message's segments, 0 if absent.

        Handlers locate faults by it; it is not ERL-2: ``sequence`` turns it into
        the segment sequence an ERR segment carries.
        """
        seen = 0
        for index, seg in enumerate(self.segments, 1):
            if seg[0] == segment_id:
                seen += 1
                if seen == occurrence:
                    return index
        return 0

    def sequence(self, position: int) -> int:
        """ERL-2 (segment sequence) of the segment at ``position``; 0 for 0 or out of range.

        HL7 defines it as the occurrence of that segment type in the message (the
        first PID is ``PID^1``, the second OBX ``OBX^2``), not the place among all
        segments: senders' tools highlight the field by it.
        """
        if not 0 < position <= len(self.segments):
            return 0
        segment_id = self.segments[position - 1][0]
        return sum(1 for seg in self.segments[:position] if seg[0] == segment_id)

    def located(self, fault: Fault) -> Fault:
        """``fault`` (located by ``position``) with its segment index as ERL-2 counts."""
        if fault.segment_index <= 1:
            return fault
        return replace(fault, segment_index=self.sequence(fault.segment_index))

    def has(self, segment_id: str) -> bool:
        """Whether the message holds at least one such segment."""
        return segment_id in self._index

    def field(self, segment_id: str, field: int, occurrence: int = 1) -> str:
        """The raw (still escaped) text of a whole field, ``""`` when absent."""
        segs = self._index.get(segment_id)
        if not segs or occurrence > len(segs):
            return ""
        seg = segs[occurrence - 1]
        return seg[field] if field < len(seg) else ""

    def get(
        self,
        segment_id: str,
        field: int,
        component: int = 1,
        subcomponent: int = 1,
        repetition: int = 1,
        occurrence: int = 1,
    ) -> str:
        """One unescaped value, located as ``SEG-field.component.subcomponent``."""
        if field <= 2 and segment_id == "MSH":
            return self.field("MSH", field)  # the delimiters themselves: never split
        segs = self._index.get(segment_id)
        if not segs or occurrence > len(segs):
            return ""
        seg = segs[occurrence - 1]
        if field >= len(seg):
            return ""
        text = seg[field]
        seps = self.separators
        if (
            component == 1
            and subcomponent == 1
            and repetition == 1
            and seps.repetition not in text
            and seps.component not in text
            and seps.subcomponent not in text
            and seps.escape not in text
        ):
            return text  # a plain value (most are): component_of would return it as it is
        return component_of(text, seps, component, subcomponent, repetition)

    def repetitions(self, segment_id: str, field: int, occurrence: int = 1) -> list[str]:
        """The raw repetitions of a field (``PID-3`` may list many identifiers)."""
        text = self.field(segment_id, field, occurrence)
        return text.split(self.separators.repetition) if text else []

    # Header shortcuts: every caller needs these, several times a message, so each is
    # read once and remembered (a Message is never changed after parsing).
    @property
    def sending_application(self) -> str:
        value = self._msh3
        if value is None:
            value = self._msh3 = self.get("MSH", 3)
        return value

    @property
    def sending_facility(self) -> str:
        value = self._msh4
        if value is None:
            value = self._msh4 = self.get("MSH", 4)
        return value

    @property
    def control_id(self) -> str:
        value = self._msh10
        if value is None:
            value = self._msh10 = self.get("MSH", 10)
        return value

    @property
    def message_code(self) -> str:
        value = self._msh9_1
        if value is None:
            value = self._msh9_1 = self.get("MSH", 9, 1)
        return value

    @property
    def trigger_event(self) -> str:
        value = self._msh9_2
        if value is None:
            value = self._msh9_2 = self.get("MSH", 9, 2)
        return value

    @property
    def version(self) -> str:
        value = self._msh12
        if value is None:
            value = self._msh12 = self.get("MSH", 12)
        return value

    @property
    def processing_id(self) -> str:
        value = self._msh11
        if value is None:
            value = self._msh11 = self.get("MSH", 11)
        return value


def components(field_text: str, seps: Separators) -> list[str]:
    """The (still escaped) components of a field's first repetition.

    With ``subcomponent_of`` this reads several components of one field for a
    single split, where ``component_of`` splits the field again for each.
    """
    if seps.repetition in field_text:
        field_text = field_text.split(seps.repetition, 1)[0]
    return field_text.split(seps.component)


def subcomponent_of(
    parts: list[str], seps: Separators, component: int, subcomponent: int = 1
) -> str:
    """``component_of(field, seps, component, subcomponent)`` for ``parts = components(field)``."""
    if component > len(parts):
        return ""
    text = parts[component - 1]  # _subcomponent, inlined: this runs for every value read
    if subcomponent > 1 or seps.subcomponent in text:
        subs = text.split(seps.subcomponent)
        if subcomponent > len(subs):
            return ""
        text = subs[subcomponent - 1]
    return seps.unescape(text) if seps.escape in text else text


def component_of(
    field_text: str,
    seps: Separators,
    component: int = 1,
    subcomponent: int = 1,
    repetition: int = 1,
) -> str:
    """Picks one unescaped value out of a raw field's text."""
    if not field_text:
        return ""
    text = field_text
    if repetition > 1 or seps.repetition in text:
        reps = text.split(seps.repetition)
        if repetition > len(reps):
            return ""
        text = reps[repetition - 1]
    if component > 1 or seps.component in text:
        comps = text.split(seps.component)
        if component > len(comps):
            return ""
        text = comps[component - 1]
    return _subcomponent(text, seps, subcomponent)


def _subcomponent(text: str, seps: Separators, subcomponent: int) -> str:
    """One component's unescaped subcomponent (the whole component when it has none)."""
    if subcomponent > 1 or seps.subcomponent in text:
        subs = text.split(seps.subcomponent)
        if subcomponent > len(subs):
            return ""
        text = subs[subcomponent - 1]
    return seps.unescape(text)


def read_separators(text: str) -> Separators:
    """Reads MSH-1 and MSH-2 of a message that starts with ``MSH``.

    Raises:
        ParseError: the header does not start with MSH or its delimiters are unusable.
    """
    if not text.startswith("MSH") or len(text) < 8:
        raise ParseError("message does not start with an MSH segment")
    field_sep = text[3]
    end = text.find(field_sep, 4)
    if end < 0:
        raise ParseError("MSH-2 encoding characters are not terminated")
    enc = text[4:end]
    if not 4 <= len(enc) <= 5:
        raise ParseError("MSH-2 must hold 4 or 5 encoding characters")
    if enc == "^~\\&" and field_sep == "|":
        return _DEFAULT
    return Separators(field_sep, enc[0], enc[1], enc[2], enc[3], enc[4] if len(enc) == 5 else "")


def parse_message(raw: bytes | str) -> Message:
    """Splits a message into segments and fields by its own separators.

    ``\\r``, ``\\n`` and ``\\r\\n`` all end a segment; blank lines are skipped.

    Raises:
        ParseError: not an HL7 v2 message (no MSH header, unusable delimiters).
    """
    text = decode_bytes(raw) if isinstance(raw, bytes) else raw
    seps = read_separators(text)
    fs = seps.field
    segments: list[list[str]] = []
    # Most senders end segments with CR alone: str.split is ~10x the regex's speed.
    lines = _SEGMENT_SPLIT.split(text) if "\n" in text else text.split("\r")
    for line in lines:
        if not line:
            continue
        fields = line.split(fs)
        if fields[0] == "MSH":
            # HL7 counts MSH-1 as the separator itself: insert it so indexes match.
            fields.insert(1, fs)
        segments.append(fields)
    return Message(text, seps, segments)
