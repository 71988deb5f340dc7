"""A tiny pure-Python reference of the native validator's rules, for tests only.

Why it exists: the equivalence tests (tests/integration/native/test_fuzz.py)
run it and the C validator on the same generated messages and demand the same
faults. It is written differently on purpose (``re`` and ``split`` instead of a
byte walk), so that agreement means the rules, not one implementation's
accidents, were checked. It is slow and is never a fallback for production
(``native/validator.py`` has none).

The fault order is the one documented in ``native/src/validator.c``: per
segment the id fault, the segment length fault, then per field its in-field
faults in byte order followed by the field length fault; after the first MSH's
fields, the MSH checks in the order MSH-7, 9, 10, 11, 12. A bad header (no
MSH, bad MSH-1 or MSH-2) or an over-long message stops the walk.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RULES", "VECTORS", "RefFault", "fault_key", "load_vectors", "validate"]

VECTORS = Path(__file__).parent / "data" / "hl7" / "validator"

# name -> (HL7 table 0357 code, severity): the same table as native/src/rules.c.
RULES: dict[str, tuple[int, str]] = {
    "EMPTY_MESSAGE": (100, "E"),
    "MESSAGE_TOO_LONG": (102, "E"),
    "MSH_NOT_FIRST": (100, "E"),
    "BAD_FIELD_SEPARATOR": (102, "E"),
    "BAD_ENCODING_CHARACTERS": (102, "E"),
    "BLANK_LINE": (100, "W"),
    "BAD_SEGMENT_ID": (100, "E"),
    "CONTROL_CHARACTER": (102, "E"),
    "BAD_ESCAPE": (102, "E"),
    "SEGMENT_TOO_LONG": (102, "E"),
    "FIELD_TOO_LONG": (102, "E"),
    "REQUIRED_FIELD_MISSING": (101, "E"),
    "BAD_DATETIME": (102, "E"),
    "UNSUPPORTED_PROCESSING_ID": (202, "E"),
    "UNSUPPORTED_VERSION": (203, "E"),
    "FAULTS_TRUNCATED": (0, "I"),
}

DEFAULT_MAX_MESSAGE_LEN = 1 << 20
DEFAULT_MAX_SEGMENT_LEN = 1 << 16
DEFAULT_MAX_FIELD_LEN = 1 << 16

VERSIONS = frozenset(
    {b"2.3", b"2.3.1", b"2.4", b"2.5", b"2.5.1", b"2.6", b"2.7", b"2.7.1", b"2.8"}
    | {b"2.8.1", b"2.8.2"}
)

_TERMINATOR = re.compile(rb"\r\n|\r|\n")
_SEGMENT_ID = re.compile(rb"[A-Z][A-Z0-9]{2}")
_DTM = re.compile(
    rb"(\d{4})(?:(\d\d)(?:(\d\d)(?:(\d\d)(?:(\d\d)(?:(\d\d)(?:\.\d{1,4})?)?)?)?)?)?"
    rb"(?:[+-](\d\d)(\d\d))?"
)
_ESCAPE_BODY = (
    rb"[FSTREHN]|X(?:[0-9A-Fa-f]{2})+|Z[\x21-\x7e]+|C[0-9A-Fa-f]{4}"
    rb"|M[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{2})?"
    rb"|\.(?:br|fi|nf|ce)|\.(?:sp|sk)(?: ?[0-9]+)?|\.(?:in|ti)(?: ?[+-]?[0-9]+)?"
)
_CONTROL = rb"\x00-\x08\x0a-\x1f\x7f"  # TAB is data; CR/LF never reach a field


@dataclass(frozen=True)
class RefFault:
    """The reference's fault: engine.ports.Fault without the text."""

    code: int
    rule: str
    segment_id: str
    segment_index: int
    field: int
    repetition: int
    component: int
    subcomponent: int
    offset: int
    severity: str
    fatal: bool


def _is_delimiter(c: int) -> bool:
    return 0x21 <= c <= 0x7E and not chr(c).isalnum()


def _shown_id(raw: bytes) -> str:
    return "".join(chr(c) if 0x21 <= c <= 0x7E else "?" for c in raw[:3])


def dtm_valid(value: bytes) -> bool:
    """The HL7 DTM grammar with real calendar values."""
    m = _DTM.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second, tz_h, tz_m = (
        int(g) if g is not None else None for g in m.groups()
    )
    assert year is not None
    if month is not None and not 1 <= month <= 12:
        return False
    if day is not None:
        assert month is not None
        last = 29 if month == 2 and calendar.isleap(year) else calendar.mdays[month]
        if not 1 <= day <= last:
            return False
    if (hour or 0) > 23 or (minute or 0) > 59 or (second or 0) > 59:
        return False
    return not (tz_h is not None and (tz_h > 14 or (tz_m or 0) > 59))


class _Message:
    """One validation run: the message, its options and the faults so far."""

    def __init__(self, msg: bytes, strict: bool, max_segment_len: int, max_field_len: int):
        self.msg = msg
        self.strict = strict
        self.max_segment_len = max_segment_len
        self.max_field_len = max_field_len
        self.faults: list[RefFault] = []
        self.seg = ("", 0)

    def fault(
        self,
        rule: str,
        offset: int,
        where: tuple[int, int, int, int] = (0, 0, 0, 0),
        fatal: bool = False,
    ) -> None:
        code, severity = RULES[rule]
        self.faults.append(RefFault(code, rule, *self.seg, *where, offset, severity, fatal))

    def set_delimiters(self, fs: int, enc: bytes) -> None:
        self.fs = bytes([fs])
        self.cs, self.rs, self.es, self.ss = (bytes([c]) for c in enc[:4])
        esc = re.escape(self.es)
        stops = b"".join(re.escape(bytes([c])) for c in enc[:4]) + _CONTROL
        self.token = re.compile(
            rb"(?P<seq>%s(?P<body>[^%s]*)%s)|(?P<lone>%s)|(?P<ctrl>[%s])|(?P<delim>[%s])"
            % (esc, stops, esc, esc, _CONTROL, stops)
        )
        extra = rb"|P" if len(enc) == 5 else b""
        self.escape_body = re.compile(_ESCAPE_BODY + extra)

    def check_field(self, value: bytes, start: int, number: int) -> None:
        """In-field faults of one field at absolute offset start, then its length."""
        rep = comp = sub = 1
        for m in self.token.finditer(value):
            where = (number, rep, comp, sub)
            if m.group("seq") is not None:
                if not self.escape_body.fullmatch(m.group("body")):
                    self.fault("BAD_ESCAPE", start + m.start(), where)
            elif m.group("lone") is not None:
                self.fault("BAD_ESCAPE", start + m.start(), where)
            elif m.group("ctrl") is not None:
                self.fault("CONTROL_CHARACTER", start + m.start(), where)
            elif m.group() == self.rs:
                rep, comp, sub = rep + 1, 1, 1
            elif m.group() == self.cs:
                comp, sub = comp + 1, 1
            else:  # the subcomponent separator
                sub += 1
        if len(value) > self.max_field_len:
            self.fault("FIELD_TOO_LONG", start, (number, 0, 0, 0))

    def check_fields(self, fields: list[bytes], start: int, first_number: int) -> None:
        """fields[0] starts at absolute offset start and is field first_number."""
        for i, value in enumerate(fields):
            self.check_field(value, start, first_number + i)
            start += len(value) + 1

    def check_msh(self, parts: list[bytes], seg_start: int, seg_end: int) -> None:
        """MSH-7, 9, 10, 11, 12 of the first MSH (parts = the segment split on MSH-1)."""
        starts = [seg_start]
        for p in parts[:-1]:
            starts.append(starts[-1] + len(p) + 1)

        def field(n: int, fatal: bool) -> tuple[bytes, int] | None:
            if n - 1 >= len(parts):
                self.fault("REQUIRED_FIELD_MISSING", seg_end, (n, 0, 0, 0), fatal)
                return None
            if parts[n - 1] == b"":
                self.fault("REQUIRED_FIELD_MISSING", starts[n - 1], (n, 0, 0, 0), fatal)
                return None
            return parts[n - 1], starts[n - 1]

        def component(f: tuple[bytes, int], n: int, k: int, fatal: bool) -> tuple[bytes, int]:
            first_rep = f[0].split(self.rs)[0]
            comps = first_rep.split(self.cs)
            if k <= len(comps):
                value, offset = comps[k - 1], f[1] + sum(len(c) + 1 for c in comps[: k - 1])
            else:
                value, offset = b"", f[1] + len(first_rep)
            if value == b"":
                self.fault("REQUIRED_FIELD_MISSING", offset, (n, 1, k, 0), fatal)
            return value, offset

        if (f := field(7, False)) is not None:
            value, offset = component(f, 7, 1, False)
            if value and not dtm_valid(value):
                self.fault("BAD_DATETIME", offset, (7, 1, 1, 0))
        if (f := field(9, True)) is not None:
            component(f, 9, 1, True)
            component(f, 9, 2, True)
        field(10, True)
        if (f := field(11, False)) is not None:
            value, offset = component(f, 11, 1, False)
            if value and value not in (b"P", b"D", b"T"):
                self.fault("UNSUPPORTED_PROCESSING_ID", offset, (11, 1, 1, 0))
        if (f := field(12, False)) is not None:
            value, offset = component(f, 12, 1, False)
            if value and value not in VERSIONS:
                self.fault("UNSUPPORTED_VERSION", offset, (12, 1, 1, 0))

    def check_segment(self, index: int, start: int, end: int) -> None:
        """Any segment after the first."""
        parts = self.msg[start:end].split(self.fs)
        self.seg = (_shown_id(parts[0]), index)
        if not _SEGMENT_ID.fullmatch(parts[0]):
            self.fault("BAD_SEGMENT_ID", start)
        if end - start > self.max_segment_len:
            self.fault("SEGMENT_TOO_LONG", start)
        if len(parts) > 1 and parts[0] in (b"MSH", b"FHS", b"BHS"):
            # Field 1 is the separator, field 2 the encoding characters: not data.
            self.check_fields(parts[2:], start + len(parts[0]) + len(parts[1]) + 2, 3)
        else:
            self.check_fields(parts[1:], start + len(parts[0]) + 1, 1)


def validate(
    msg: bytes,
    *,
    strict: bool = False,
    max_message_len: int = 0,
    max_segment_len: int = 0,
    max_field_len: int = 0,
) -> list[RefFault]:
    """Every fault of msg, as native.NativeMessageValidator reports them (no cap)."""
    max_message_len = max_message_len or DEFAULT_MAX_MESSAGE_LEN
    m = _Message(
        msg,
        strict,
        max_segment_len or DEFAULT_MAX_SEGMENT_LEN,
        max_field_len or DEFAULT_MAX_FIELD_LEN,
    )
    if not msg:
        m.fault("EMPTY_MESSAGE", 0, fatal=True)
        return m.faults
    if len(msg) > max_message_len:
        m.fault("MESSAGE_TOO_LONG", max_message_len, fatal=True)
        return m.faults

    pieces: list[tuple[int, int]] = []
    pos = 0
    for t in _TERMINATOR.finditer(msg):
        pieces.append((pos, t.start()))
        pos = t.end()
    if pos < len(msg):
        pieces.append((pos, len(msg)))

    first_start, first_end = pieces[0]
    first = msg[first_start:first_end]
    m.seg = (_shown_id(first), 1)
    if not first.startswith(b"MSH"):
        m.fault("MSH_NOT_FIRST", 0, fatal=True)
        return m.faults
    if len(first) < 4 or not _is_delimiter(first[3]):
        m.fault("BAD_FIELD_SEPARATOR", 3, (1, 0, 0, 0), fatal=True)
        return m.faults
    parts = first.split(first[3:4])
    enc = parts[1]
    if len(enc) not in (4, 5) or len(set(enc)) != len(enc) or not all(map(_is_delimiter, enc)):
        m.fault("BAD_ENCODING_CHARACTERS", 4, (2, 0, 0, 0), fatal=True)
        return m.faults
    m.set_delimiters(first[3], enc)

    if len(first) > m.max_segment_len:
        m.fault("SEGMENT_TOO_LONG", 0)
    m.check_fields(parts[2:], len(parts[0]) + len(parts[1]) + 2, 3)
    m.check_msh(parts, first_start, first_end)

    index = 1
    for start, end in pieces[1:]:
        if start == end:
            if strict:
                m.seg = ("", 0)
                m.fault("BLANK_LINE", start)
            continue
        index += 1
        m.check_segment(index, start, end)
    return m.faults


_KEY_FIELDS = [
    "rule",
    "code",
    "segment_id",
    "segment_index",
    "field",
    "repetition",
    "component",
    "subcomponent",
    "offset",
    "severity",
    "fatal",
]
_KEY_DEFAULTS: dict[str, Any] = {"segment_id": "", "severity": "E", "fatal": False}


def fault_key(fault: Any) -> tuple[Any, ...]:
    """What the tests compare of a Fault, a RefFault or a vectors.json dict (no text)."""
    if isinstance(fault, dict):
        return tuple(fault.get(k, _KEY_DEFAULTS.get(k, 0)) for k in _KEY_FIELDS)
    return tuple(getattr(fault, k) for k in _KEY_FIELDS)


def load_vectors() -> dict[str, Any]:
    """vectors.json (see README.md beside it), with each case's message bytes as "data"."""
    vectors: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text("utf-8"))
    for case in vectors["cases"]:
        case["data"] = (VECTORS / case["file"]).read_bytes()
        case.setdefault("options", {})
    return vectors
