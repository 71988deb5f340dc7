"""Property tests of the profile rules: generated messages that fit their profile, mutated.

hypothesis builds ADT (every trigger carelog handles), ORU^R01 with several
orders and OBX, and DFT^P03 with several FT1, in every version 2.3 to 2.8.2
and with random delimiters; each must be valid in the tolerant level, and
after structural mutations (a segment dropped, repeated, moved, an unknown or
Z segment inserted) and value mutations (an empty, over-long, wrongly typed
or out-of-table value) the C validator and the Python reference must report
exactly the same faults, in both levels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native import NativeMessageValidator
from tests.reference_validator import fault_key, validate

pytestmark = pytest.mark.native

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"]
DELIMITERS = b"|^~\\&#!$%*/:;=?@_`{}"
ADT_TRIGGERS = ["A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A31"]
WORD = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8).map(str.encode)
QUANTITY = st.from_regex(r"\A-?[0-9]{1,3}\Z", fullmatch=True).map(str.encode)  # FT1-10: 6 bytes
NUMBER = st.from_regex(r"\A[+-]?[0-9]{1,4}(\.[0-9]{1,2})?\Z", fullmatch=True).map(str.encode)
_VALIDATORS = {s: NativeMessageValidator(strict=s, max_faults=100_000) for s in (False, True)}


def agree(message: bytes, strict: bool) -> tuple[Any, ...]:
    faults = _VALIDATORS[strict].validate(message)
    assert [fault_key(f) for f in faults] == [
        fault_key(f) for f in validate(message, strict=strict)
    ]
    return faults


@st.composite
def stamp(draw: st.DrawFn, date_only: bool = False) -> bytes:
    when = draw(st.datetimes(min_value=dt.datetime(1900, 1, 1)))
    digits = draw(st.sampled_from([4, 6, 8] if date_only else [8, 12, 14]))
    return when.strftime("%Y%m%d%H%M%S")[:digits].encode()


@st.composite
def profiled(draw: st.DrawFn) -> tuple[list[list[bytes]], bytes, bytes]:
    """(segments as field lists, field separator, encoding characters) of a valid message."""
    delims = draw(st.lists(st.sampled_from(DELIMITERS), min_size=5, max_size=5, unique=True))
    fs, enc = bytes(delims[:1]), bytes(delims[1:5])
    cs, rs = enc[0:1], enc[1:2]
    version = draw(st.sampled_from(VERSIONS)).encode()
    kind = draw(st.sampled_from(["ADT", "A40", "ORU", "DFT"]))
    trigger = {
        "ADT": draw(st.sampled_from(ADT_TRIGGERS)),
        "A40": "A40",
        "ORU": "R01",
        "DFT": "P03",
    }[kind].encode()
    code = b"ADT" if kind in ("ADT", "A40") else kind.encode()
    control = draw(st.text("0123456789", min_size=1, max_size=20)).encode()
    msh = [b"MSH", enc, draw(WORD), draw(WORD), b"CARELOG", draw(WORD), draw(stamp()), b""]
    msh += [code + cs + trigger, control, b"P", version]
    if draw(st.booleans()):
        msh += [b"", b"", draw(st.sampled_from([b"AL", b"NE", b"ER", b"SU"]))]

    def cx(value: bytes, kind_: bytes) -> bytes:
        return cs.join([value, b"", b"", b"HOSP", kind_])

    def pid() -> list[bytes]:
        ids = [cx(draw(WORD)[:6], b"MR")]
        if draw(st.booleans()):
            ids.append(cx(draw(WORD)[:6], b"SS"))
        sex = draw(st.sampled_from([b"F", b"M", b"O", b"U", b"A", b"N", b""]))
        name = cs.join([draw(WORD), draw(WORD)])
        return [b"PID", b"1", b"", rs.join(ids), b"", name, b"", draw(stamp(True)), sex]

    def pv1() -> list[bytes]:
        fields = [b"PV1", b"1", draw(st.sampled_from([b"E", b"I", b"O", b"P", b"R", b"B"]))]
        fields += [cs.join([draw(WORD), b"101"]), draw(st.sampled_from([b"", b"E", b"U", b"R"]))]
        fields += [b""] * 14 + [cx(draw(WORD)[:6], b"VN")]
        return fields

    segments = [msh]
    evn = [b"EVN", trigger, draw(stamp())]
    zseg = [[b"ZPI", draw(WORD)]] if draw(st.booleans()) else []
    if kind == "ADT":
        segments += [evn, pid(), *zseg, pv1()]
        if draw(st.booleans()):
            segments.append([b"PV2", b"", b"", cs.join([b"", draw(WORD)])])
    elif kind == "A40":
        segments.append(evn)
        for _ in range(draw(st.integers(1, 3))):
            segments += [pid(), [b"MRG", cx(draw(WORD)[:6], b"MR")]]
    elif kind == "ORU":
        segments += [pid(), pv1()] if draw(st.booleans()) else [pid()]
        for n in range(1, draw(st.integers(1, 3)) + 1):
            status = draw(st.sampled_from([b"F", b"P", b"C", b""]))
            segments.append([b"OBR", str(n).encode(), b"", b"FL" + str(n).encode(), draw(WORD)])
            segments[-1] += [b"", b"", draw(stamp())] + [b""] * 17 + [status]
            for k in range(1, draw(st.integers(0, 4)) + 1):
                vtype = draw(st.sampled_from([b"NM", b"ST", b"DT", b"TS", b"CE"]))
                value = {
                    b"NM": draw(NUMBER),
                    b"ST": draw(WORD),
                    b"DT": draw(stamp(True)),
                    b"TS": draw(stamp()),
                    b"CE": cs.join([draw(WORD), draw(WORD)]),
                }[vtype]
                result = draw(st.sampled_from([b"F", b"P", b"C", b"X"]))
                obx = [b"OBX", str(k).encode(), vtype, draw(WORD), b"", value]
                segments.append(obx + [b""] * 5 + [result])
                if draw(st.booleans()):
                    segments.append([b"NTE", b"1", b"", draw(WORD)])
    else:
        segments += [evn, pid(), *zseg]
        if draw(st.booleans()):
            segments.append(pv1())
        for n in range(1, draw(st.integers(1, 3)) + 1):
            kind_ = draw(st.sampled_from([b"CG", b"CD", b"PY", b"AJ"]))
            ft1 = [b"FT1", str(n).encode(), b"", b"", draw(stamp(True)), b"", kind_, draw(WORD)]
            segments.append([*ft1, b"", b"", draw(QUANTITY)])
    return segments, fs, enc


def join(segments: list[list[bytes]], fs: bytes) -> bytes:
    out = []
    for seg in segments:
        if seg[0] == b"MSH":
            out.append(b"MSH" + fs + fs.join(seg[1:]))
        else:
            out.append(fs.join(seg))
    return b"\r".join(out) + b"\r"


BAD_VALUES = [b"", b'""', b"X", b"ZZ", b"abc", b"1.2.3", b"20230229", b"2460", b"-", b"A" * 300]
BAD_VALUES += [b"NM", b"DT", b"TM", b"TS", b"12,5", b"+.5", b"2024133", b"235960", b"-0.0", b"F"]
# The fields the profiles have rules for, so that value mutations hit them often.
RULED = {
    b"MSH": [10, 15, 16],
    b"EVN": [2, 6],
    b"PID": [1, 3, 5, 7, 8, 18],
    b"PV1": [1, 2, 3, 4, 19, 44, 45],
    b"MRG": [1],
    b"OBR": [1, 4, 7, 25],
    b"OBX": [1, 2, 3, 5, 11, 14],
    b"FT1": [1, 4, 6, 7, 10],
}


@st.composite
def mutated_profiled(draw: st.DrawFn) -> bytes:
    segments, fs, enc = draw(profiled())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                ["drop", "repeat", "move", "insert", "value", "component", "ruled", "ruled", "far"]
            )
        )
        at = draw(st.integers(1, len(segments) - 1)) if len(segments) > 1 else 1
        if op == "drop" and len(segments) > 1:
            del segments[at]
        elif op == "repeat" and len(segments) > 1:
            segments.insert(at, list(segments[at]))
        elif op == "move" and len(segments) > 2:
            seg = segments.pop(at)
            segments.insert(draw(st.integers(1, len(segments))), seg)
        elif op == "insert":
            seg_id = draw(st.sampled_from([b"NTE", b"ZZ9", b"AL1", b"OBX", b"PV1", b"PID", b"SFT"]))
            segments.insert(at, [seg_id, b"1", draw(WORD)])
        elif len(segments) > 1:
            seg = segments[at]
            ruled = RULED.get(seg[0], [])
            if op == "ruled" and ruled:
                field = draw(st.sampled_from(ruled))
            elif op in ("ruled", "far"):
                field = draw(st.sampled_from([27, 40, 55, 63, 64, 70]))  # past the definitions
            else:
                field = draw(st.integers(1, max(len(seg) + 2, 2)))
            if seg[0] == b"MSH" and field < 3:
                continue
            while len(seg) <= field:
                seg.append(b"")
            value = draw(st.sampled_from(BAD_VALUES))
            if op == "component":
                value = enc[0:1].join([b"", value]) if draw(st.booleans()) else enc[1:2] + value
            seg[field] = value
    return join(segments, fs)


@SETTINGS
@given(profiled())
def test_generated_profiled_messages_are_valid(generated: Any) -> None:
    segments, fs, _enc = generated
    message = join(segments, fs)
    assert agree(message, strict=False) == ()
    strict = agree(message, strict=True)
    assert {f.rule for f in strict} <= {"SEGMENT_UNKNOWN"}  # only a Z segment, in strict


@SETTINGS
@given(mutated_profiled(), st.booleans())
def test_mutated_profiled_messages_agree(message: bytes, strict: bool) -> None:
    agree(message, strict)


@settings(SETTINGS, max_examples=40)
@given(st.lists(mutated_profiled(), min_size=1, max_size=8))
def test_profiled_batch_equals_single_calls(batch: list[bytes]) -> None:
    for validator in _VALIDATORS.values():
        assert validator.validate_many(batch) == [validator.validate(m) for m in batch]
