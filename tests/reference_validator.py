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
fields, the MSH checks in the order MSH-7, 9, 10, 11, 12, then 200/201. A bad
header (no MSH, bad MSH-1 or MSH-2) or an over-long message stops the walk.

With profiles (read here straight from the JSON in ``schemas/hl7v2``, not
from the compiled blob) each segment's field rules follow its envelope faults
(``native/src/profile.c`` describes them), and the structure faults
(``native/src/structure.c``) come after the last segment.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

__all__ = [
    "ENVELOPE",
    "PROFILES",
    "RULES",
    "VECTORS",
    "RefFault",
    "RefProfiles",
    "fault_key",
    "load_vectors",
    "validate",
]

VECTORS = Path(__file__).parent / "data" / "hl7" / "validator"
PROFILES = Path(__file__).parent.parent / "schemas" / "hl7v2"

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
    "UNSUPPORTED_MESSAGE_TYPE": (200, "E"),
    "UNSUPPORTED_EVENT": (201, "E"),
    "SEGMENT_MISSING": (100, "E"),
    "SEGMENT_UNEXPECTED": (100, "E"),
    "SEGMENT_UNKNOWN": (100, "W"),
    "BAD_DATE": (102, "E"),
    "BAD_TIME": (102, "E"),
    "BAD_NUMBER": (102, "E"),
    "BAD_SEQUENCE_ID": (102, "E"),
    "TABLE_VALUE": (103, "E"),
    "VALUE_TOO_LONG": (102, "W"),
    "FIELD_NOT_DEFINED": (102, "E"),
}

DEFAULT_MAX_MESSAGE_LEN = 1 << 20
DEFAULT_MAX_SEGMENT_LEN = 1 << 20
DEFAULT_MAX_FIELD_LEN = 1 << 20

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
_DT = re.compile(rb"(\d{4})(?:(\d\d)(\d\d)?)?")
_TM = re.compile(rb"(\d\d)(?:(\d\d)(?:(\d\d)(?:\.\d{1,4})?)?)?(?:[+-](\d\d)(\d\d))?")
_NM = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")
_SI = re.compile(rb"\d+")
_VERSION_ORDER = [
    "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"
]  # fmt: skip


def _vkey(version: str) -> int:
    return _VERSION_ORDER.index(version)


def _at(value: Any, version: str) -> Any:
    """A per-version JSON value ({"2.3": a, "2.7": b}) at version."""
    if not isinstance(value, dict):
        return value
    best = None
    for since in sorted(value, key=_vkey):
        if _vkey(since) <= _vkey(version):
            best = value[since]
    return best


def _in_version(obj: dict[str, Any], version: str) -> bool:
    return _vkey(obj.get("since", "2.3")) <= _vkey(version) <= _vkey(obj.get("until", "2.8.2"))


@dataclass(frozen=True)
class _Node:
    segment: str  # a group: the segment that names it when missing
    group: bool
    low: int
    high: int  # 0 = unbounded
    children: tuple[_Node, ...]
    leads: frozenset[str]
    domain: bool = False  # a leaf the message's "domain" list (or MSH) names


class RefProfiles:
    """The JSON profiles, read the plain way: dicts resolved per version on use."""

    def __init__(self, directory: Path = PROFILES) -> None:
        self.tables = {
            k: v["values"]
            for k, v in json.loads((directory / "tables.json").read_text()).items()
            if not k.startswith("_")
        }
        self.segments = json.loads((directory / "segments.json").read_text())
        self.messages = [
            json.loads(p.read_text()) for p in sorted((directory / "messages").glob("*.json"))
        ]
        self.types = {m["message_type"] for m in self.messages}

    def message(self, type_: bytes, trigger: bytes) -> dict[str, Any] | None:
        for m in self.messages:
            if m["message_type"].encode() == type_ and trigger.decode("latin-1") in m["triggers"]:
                return m
        return None

    def tree(
        self, items: list[Any], version: str, domain: frozenset[str] = frozenset()
    ) -> tuple[_Node, ...]:
        out = []
        for item in items:
            if isinstance(item, str):
                core = item.strip("[]")
                item = {
                    "segment": core.strip("{}"),
                    "min": 0 if item.startswith("[") else 1,
                    "max": "*" if core.startswith("{") else 1,
                }
            if not _in_version(item, version):
                continue
            low = item.get("min", 1)
            high = 0 if item.get("max", 1) == "*" else item["max"]
            if "group" in item:
                kids = self.tree(item["segments"], version, domain)
                required = [k for k in kids if k.low > 0]
                name = (required or list(kids))[0].segment
                first: list[str] = []
                for k in kids:
                    first.extend(k.leads)
                    if k.low > 0:
                        break
                out.append(_Node(name, True, low, high, kids, frozenset(first)))
            else:
                seg = item["segment"]
                leaf = _Node(seg, False, low, high, (), frozenset([seg]), seg in domain)
                out.append(leaf)
        return tuple(out)

    def rules(self, segment: str, version: str) -> tuple[list[dict[str, Any]], int] | None:
        spec = self.segments.get(segment)
        if spec is None or segment.startswith("_"):
            return None
        rules = [r for r in spec.get("fields", []) if _in_version(r, version)]
        rules.sort(key=lambda r: r["field"])
        return rules, _at(spec.get("max_fields", 0), version) or 0


_DEFAULT_PROFILES: list[RefProfiles] = []


def _default_profiles() -> RefProfiles:
    if not _DEFAULT_PROFILES:
        _DEFAULT_PROFILES.append(RefProfiles())
    return _DEFAULT_PROFILES[0]


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


def dt_valid(value: bytes) -> bool:
    """HL7 DT: YYYY[MM[DD]] on the calendar."""
    m = _DT.fullmatch(value)
    if m is None:
        return False
    return dtm_valid(value)


def tm_valid(value: bytes) -> bool:
    """HL7 TM: HH[MM[SS[.S{1,4}]]][+/-ZZZZ]."""
    m = _TM.fullmatch(value)
    if m is None:
        return False
    hour, minute, second, tz_h, tz_m = (int(g) if g is not None else 0 for g in m.groups())
    return hour <= 23 and minute <= 59 and second <= 59 and tz_h <= 14 and tz_m <= 59


_CHECKS = {
    "DT": ("BAD_DATE", dt_valid),
    "DTM": ("BAD_DATETIME", dtm_valid),
    "TM": ("BAD_TIME", tm_valid),
    "NM": ("BAD_NUMBER", lambda v: _NM.fullmatch(v) is not None),
    "SI": ("BAD_SEQUENCE_ID", lambda v: _SI.fullmatch(v) is not None),
}


# (component, subcomponent) of each numeric part of a composite type (0: the whole component).
_NUMERIC_PARTS: dict[str, tuple[tuple[int, int], ...]] = {
    "CP": ((1, 1), (3, 0), (4, 0)),
    "MO": ((1, 0),),
    "CQ": ((1, 0),),
    "SN": ((2, 0), (4, 0)),
}


class _Message:
    """One validation run: the message, its options and the faults so far."""

    def __init__(
        self,
        msg: bytes,
        strict: bool,
        max_segment_len: int,
        max_field_len: int,
        profiles: RefProfiles | None,
    ):
        self.msg = msg
        self.strict = strict
        self.max_segment_len = max_segment_len
        self.max_field_len = max_field_len
        self.profiles = profiles
        self.faults: list[RefFault] = []
        self.seg = ("", 0)
        self.version: str | None = None
        self.profile: dict[str, Any] | None = None
        self.first_data = 1

    def fault(
        self,
        rule: str,
        offset: int,
        where: tuple[int, int, int, int] = (0, 0, 0, 0),
        fatal: bool = False,
        severity: str = "",
    ) -> None:
        code, default = RULES[rule]
        self.faults.append(
            RefFault(code, rule, *self.seg, *where, offset, severity or default, fatal)
        )

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
        type_ = trigger = None
        if (f := field(9, True)) is not None:
            type_ = component(f, 9, 1, True)
            trigger = component(f, 9, 2, True)
        field(10, True)
        if (f := field(11, False)) is not None:
            value, offset = component(f, 11, 1, False)
            if value and value not in (b"P", b"D", b"T"):
                self.fault("UNSUPPORTED_PROCESSING_ID", offset, (11, 1, 1, 0))
        if (f := field(12, False)) is not None:
            value, offset = component(f, 12, 1, False)
            if value in VERSIONS:
                self.version = value.decode()
            elif value:
                self.fault("UNSUPPORTED_VERSION", offset, (12, 1, 1, 0))
        if self.profiles is not None and type_ is not None and type_[0]:
            has_trigger = trigger is not None and trigger[0] != b""
            known = type_[0].decode("latin-1") in self.profiles.types
            found = None
            if has_trigger and self.version is not None:
                assert trigger is not None
                found = self.profiles.message(type_[0], trigger[0])
            if not known:
                self.fault("UNSUPPORTED_MESSAGE_TYPE", type_[1], (9, 1, 1, 0))
            elif found is None and has_trigger and self.version is not None:
                assert trigger is not None
                self.fault("UNSUPPORTED_EVENT", trigger[1], (9, 1, 2, 0))
            else:
                self.profile = found

    def apply_rules(
        self, seg_id: bytes, fields: dict[int, tuple[bytes, int]], seg_end: int
    ) -> None:
        """The profile's field rules of one segment (native/src/profile.c)."""
        if self.profiles is None or self.version is None:
            return
        found = self.profiles.rules(seg_id.decode("latin-1"), self.version)
        if found is None:
            return
        rules, max_fields = found
        lenient = "E" if self.strict else "W"
        for r in rules:
            number, comp = r["field"], r.get("component", 0)
            required = bool(_at(r.get("required", False), self.version))
            max_len = _at(r.get("max_length", 0), self.version) or 0
            kind = r.get("type", "")
            f = fields.get(number)
            if f is None or f[0] == b"":
                if required:
                    self.fault(
                        "REQUIRED_FIELD_MISSING", seg_end if f is None else f[1], (number, 0, 0, 0)
                    )
                continue
            start = f[1]
            had_component = False  # an earlier repetition had the required component
            for k, rep in enumerate(f[0].split(self.rs), 1):
                rep_start, start = start, start + len(rep) + 1
                if max_len and len(rep) > max_len and rep != b'""':
                    self.fault("VALUE_TOO_LONG", rep_start, (number, k, 0, 0), severity=lenient)
                if rep == b"":
                    continue
                comps = rep.split(self.cs)
                if comp == 0:
                    value, at = rep, rep_start
                elif comp <= len(comps):
                    value = comps[comp - 1]
                    at = rep_start + sum(len(c) + 1 for c in comps[: comp - 1])
                else:
                    value, at = b"", rep_start + len(rep)
                if comp and required and value == b"":
                    severity = lenient if had_component else ""
                    self.fault(
                        "REQUIRED_FIELD_MISSING", at, (number, k, comp, 0), severity=severity
                    )
                    continue
                had_component = True
                if value in (b"", b'""'):
                    continue
                checked = kind
                if kind == "VARIES":
                    by = fields.get(r["by_field"])
                    if by is None or by[0] == b"":
                        continue
                    named = by[0].split(self.rs)[0].split(self.cs)[0]
                    checked = {
                        b"NM": "NM", b"DT": "DT", b"TM": "TM", b"DTM": "DTM",
                        b"SN": "SN", b"CQ": "CQ", b"MO": "MO", b"CP": "CP",
                    }.get(named, "")  # fmt: skip
                    if named == b"TS":
                        checked, value = "DTM", comps[0]
                        if value == b"":
                            continue
                shown = (number, k, comp or 1, 0)
                if checked in _NUMERIC_PARTS:
                    self.check_composite(checked, rep, rep_start, number, k)
                elif checked in ("ID", "IS"):
                    if value.decode("latin-1") not in self.profiles.tables[r["table"]]:
                        sev = "E" if checked == "ID" else lenient
                        self.fault("TABLE_VALUE", at, shown, severity=sev)
                elif checked in _CHECKS:
                    rule, ok = _CHECKS[checked]
                    if not ok(value):
                        self.fault(rule, at, shown)
        if self.strict and max_fields:
            filled = [(n, off) for n, (v, off) in fields.items() if v and n >= self.first_data]
            if filled and filled[-1][0] > max_fields:
                self.fault("FIELD_NOT_DEFINED", filled[-1][1], (filled[-1][0], 0, 0, 0))

    def check_composite(self, kind: str, rep: bytes, at: int, number: int, k: int) -> None:
        """The numeric parts of a CP, MO, CQ or SN repetition, each as NM."""
        comps = rep.split(self.cs)
        offsets = [at]
        for c in comps[:-1]:
            offsets.append(offsets[-1] + len(c) + 1)
        for comp, sub in _NUMERIC_PARTS[kind]:
            if comp > len(comps):
                continue
            value, start = comps[comp - 1], offsets[comp - 1]
            if sub:
                subs = value.split(self.ss)
                if sub > len(subs):
                    continue
                start += sum(len(x) + 1 for x in subs[: sub - 1])
                value = subs[sub - 1]
            if value not in (b"", b'""') and not _NM.fullmatch(value):
                self.fault("BAD_NUMBER", start, (number, k, comp, sub))

    def check_structure(self, pieces: list[tuple[int, int]]) -> None:
        """Segment order and cardinality, greedily (native/src/structure.c)."""
        assert self.profiles is not None and self.profile is not None and self.version
        domain = frozenset(["MSH", *self.profile.get("domain", [])])
        tree = self.profiles.tree(self.profile["segments"], self.version, domain)
        alphabet: set[str] = set()
        first_fault = len(self.faults)

        def collect(nodes: tuple[_Node, ...]) -> None:
            for n in nodes:
                if n.group:
                    collect(n.children)
                else:
                    alphabet.add(n.segment)

        collect(tree)
        listed = []
        index = 0
        for start, end in pieces:
            if start == end:
                continue
            index += 1
            seg_id = self.msg[start:end].split(self.fs)[0]
            listed.append((index, seg_id, start))
        rest = iter(listed[1:])
        cur: list[Any] = [(1, b"MSH", 0)]
        lenient = "E" if self.strict else "W"

        def advance() -> None:
            for index, seg_id, start in rest:
                if not _SEGMENT_ID.fullmatch(seg_id):
                    continue
                if seg_id.decode() in alphabet:
                    cur[0] = (index, seg_id, start)
                    return
                if not seg_id.startswith(b"Z") or self.strict:
                    self.seg = (seg_id.decode(), index)
                    self.fault("SEGMENT_UNKNOWN", start, severity=lenient)
            cur[0] = None

        def match(nodes: tuple[_Node, ...]) -> None:
            for node in nodes:
                taken = 0
                while (
                    cur[0] is not None
                    and (node.high == 0 or taken < node.high)
                    and cur[0][1].decode() in node.leads
                ):
                    before = cur[0][2]
                    if node.group:
                        match(node.children)
                    else:
                        advance()
                    taken += 1
                    if cur[0] is not None and cur[0][2] == before:
                        break
                if taken < node.low:
                    self.seg = (node.segment, 0)
                    self.fault("SEGMENT_MISSING", len(self.msg) if cur[0] is None else cur[0][2])

        match(tree)
        while cur[0] is not None:
            index, seg_id, start = cur[0]
            self.seg = (seg_id.decode(), index)
            self.fault("SEGMENT_UNEXPECTED", start)
            advance()
        if self.strict:
            return
        # Tolerant: misplaced segments are warnings when the domain's segments alone fit.
        present = {seg_id.decode("latin-1") for _i, seg_id, _s in listed}
        soft = [
            k
            for k in range(first_fault, len(self.faults))
            if self.faults[k].rule == "SEGMENT_UNEXPECTED"
            or (self.faults[k].rule == "SEGMENT_MISSING" and self.faults[k].segment_id in present)
        ]
        ids = [
            seg_id.decode("latin-1")
            for _i, seg_id, _s in listed
            if _SEGMENT_ID.fullmatch(seg_id) and seg_id.decode("latin-1") in domain
        ]
        if soft and _fits(_project(tree), ids):
            for k in soft:
                self.faults[k] = replace(self.faults[k], severity="W")

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
            return  # a header inside a message: the structure check reports it
        self.check_fields(parts[1:], start + len(parts[0]) + 1, 1)
        if _SEGMENT_ID.fullmatch(parts[0]):
            self.first_data = 1
            self.apply_rules(parts[0], _numbered(parts[1:], start + len(parts[0]) + 1, 1), end)


def _project(nodes: tuple[_Node, ...]) -> tuple[_Node, ...]:
    """The tree without the leaves the domain does not read (and groups left empty)."""
    out = []
    for n in nodes:
        if not n.group:
            if n.domain:
                out.append(n)
            continue
        kids = _project(n.children)
        if kids:
            first: list[str] = []
            for k in kids:
                first.extend(k.leads)
                if k.low > 0:
                    break
            out.append(_Node(n.segment, True, n.low, n.high, kids, frozenset(first)))
    return tuple(out)


def _fits(tree: tuple[_Node, ...], ids: list[str]) -> bool:
    """Whether ids (MSH first) match tree greedily with nothing missing or left over."""
    at = 0

    def match(nodes: tuple[_Node, ...]) -> bool:
        nonlocal at
        for node in nodes:
            taken = 0
            while at < len(ids) and (node.high == 0 or taken < node.high) and ids[at] in node.leads:
                before = at
                if node.group:
                    if not match(node.children):
                        return False
                else:
                    at += 1
                taken += 1
                if at == before:
                    break
            if taken < node.low:
                return False
        return True

    return match(tree) and at == len(ids)


def _numbered(fields: list[bytes], start: int, first: int) -> dict[int, tuple[bytes, int]]:
    """Field number -> (value, absolute offset) for fields[0] numbered first at start."""
    out = {}
    for i, value in enumerate(fields):
        out[first + i] = (value, start)
        start += len(value) + 1
    return out


_USE_DEFAULT: Any = object()
ENVELOPE: dict[str, Any] = {"profiles": None}
"""Keywords for both validators that turn the profiles off (envelope rules only)."""


def validate(
    msg: bytes,
    *,
    strict: bool = False,
    max_message_len: int = 0,
    max_segment_len: int = 0,
    max_field_len: int = 0,
    profiles: RefProfiles | Any | None = _USE_DEFAULT,
) -> list[RefFault]:
    """Every fault of msg, as native.NativeMessageValidator reports them (no cap).

    ``profiles`` defaults to schemas/hl7v2 as the native validator's does; None
    checks the envelope only.
    """
    if profiles is _USE_DEFAULT:
        profiles = _default_profiles()
    max_message_len = max_message_len or DEFAULT_MAX_MESSAGE_LEN
    m = _Message(
        msg,
        strict,
        max_segment_len or DEFAULT_MAX_SEGMENT_LEN,
        max_field_len or DEFAULT_MAX_FIELD_LEN,
        profiles,
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
    m.first_data = 3
    m.apply_rules(b"MSH", _numbered(parts[1:], 4, 2), first_end)

    index = 1
    for start, end in pieces[1:]:
        if start == end:
            if strict:
                m.seg = ("", 0)
                m.fault("BLANK_LINE", start)
            continue
        index += 1
        m.check_segment(index, start, end)
    if m.profile is not None:
        m.check_structure(pieces)
    return _as_sequences(m.faults, [msg[a:b] for a, b in pieces if a != b], m.fs)


def _as_sequences(faults: list[RefFault], segments: list[bytes], fs: bytes) -> list[RefFault]:
    """ERL-2 as HL7 defines it: a fault's segment index becomes the occurrence of
    its segment type (the second OBX is OBX^2), counted over the non-blank segments."""
    shown = [_shown_id(s.split(fs)[0]) for s in segments]
    out = []
    for f in faults:
        if f.segment_index > 1:
            seq = shown[: f.segment_index].count(f.segment_id)
            f = replace(f, segment_index=seq)
        out.append(f)
    return out


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
    """vectors.json (see README.md beside it), with each case's message bytes as "data".

    A case's options are NativeMessageValidator keywords, except that
    ``"profiles": false`` (envelope rules only) becomes ``profiles=None``.
    """
    vectors: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text("utf-8"))
    for case in vectors["cases"]:
        case["data"] = (VECTORS / case["file"]).read_bytes()
        options = dict(case.get("options", {}))
        if options.get("profiles", True) is False:
            options["profiles"] = None
        case["options"] = options
    return vectors
