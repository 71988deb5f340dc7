"""Property tests: no crash on any input, deterministic, batch == single, C == reference.

The Python reference (tests/reference_validator.py) is an independent
implementation of the same rules; hypothesis generates valid messages (with
random delimiters, separators, escapes and dates) and mutates them, and both
must report exactly the same faults, positions and offsets included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native import NativeMessageValidator
from native._validator import ffi, lib
from tests.reference_validator import ENVELOPE, VERSIONS, fault_key, load_vectors, validate

pytestmark = pytest.mark.native

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Generating a batch costs several messages; fewer examples keep the suite quick.
BATCH_SETTINGS = settings(SETTINGS, max_examples=60)
DELIMITERS = b"|^~\\&#!$%*/:;=?@_`{}"  # none of these occurs in generated data
DATA_BYTES = b"ABCXYZabcxyz0123456789 .-,'()\t" + bytes([0xC3, 0xA9])
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEGMENT_IDS = [b"EVN", b"PID", b"PV1", b"PV2", b"OBR", b"OBX", b"NTE", b"FT1", b"ZPI", b"Z01"]
segment_id = st.tuples(
    st.sampled_from(UPPER), st.text(UPPER + "0123456789", min_size=2, max_size=2)
)
segment_id = segment_id.map(lambda t: (t[0] + t[1]).encode())
SEEDS = [c["data"] for c in load_vectors()["cases"] if c["data"]]
_VALIDATORS: dict[tuple[Any, ...], NativeMessageValidator] = {}


def native_validator(**options: Any) -> NativeMessageValidator:
    key = tuple(sorted(options.items(), key=lambda kv: kv[0]))
    if key not in _VALIDATORS:
        _VALIDATORS[key] = NativeMessageValidator(max_faults=100_000, **options)
    return _VALIDATORS[key]


def agree(message: bytes, **options: Any) -> tuple[Any, ...]:
    """C and reference give the same faults; C is deterministic; batch == single."""
    validator = native_validator(**options)
    faults = validator.validate(message)
    assert validator.validate(message) == faults
    assert [fault_key(f) for f in faults] == [fault_key(f) for f in validate(message, **options)]
    return faults


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A valid HL7 v2 message with random delimiters, separators and content."""
    delims = draw(st.lists(st.sampled_from(DELIMITERS), min_size=5, max_size=6, unique=True))
    fs, enc = bytes(delims[:1]), bytes(delims[1:])
    cs, rs, es, ss = (bytes([c]) for c in enc[:4])
    escapes = [b"F", b"S", b"T", b"R", b"E", b"H", b"N", b"X0D0A", b"Zab", b".br", b".sp2"]
    if len(enc) == 5:
        escapes.append(b"P")
    text = st.binary(min_size=0, max_size=6).map(
        lambda b: bytes(DATA_BYTES[x % len(DATA_BYTES)] for x in b)
    )
    piece = st.one_of(text, st.sampled_from(escapes).map(lambda e: es + e + es))
    value = st.lists(piece, max_size=3).map(b"".join)
    sub = st.lists(value, min_size=1, max_size=2).map(ss.join)
    comp = st.lists(sub, min_size=1, max_size=3).map(cs.join)
    field = st.lists(comp, min_size=1, max_size=2).map(rs.join)

    when = draw(st.datetimes(min_value=dt.datetime(1900, 1, 1)))
    digits = draw(st.sampled_from([4, 6, 8, 10, 12, 14]))
    stamp = when.strftime("%Y%m%d%H%M%S")[:digits].encode()
    if digits == 14 and draw(st.booleans()):
        stamp += b"." + str(draw(st.integers(0, 9999))).encode()
    if draw(st.booleans()):
        stamp += draw(st.sampled_from([b"+0100", b"-0500", b"+1400", b"-0000"]))
    word = st.text(UPPER + "0123456789", min_size=1, max_size=5).map(str.encode)
    msh_fields = [
        b"MSH" + fs + enc,
        *draw(st.lists(field, min_size=4, max_size=4)),
        stamp + (cs + b"S" if draw(st.booleans()) else b""),
        draw(field),
        draw(word) + cs + draw(word) + (cs + draw(word) if draw(st.booleans()) else b""),
        draw(word),
        draw(st.sampled_from([b"P", b"D", b"T"])),
        draw(st.sampled_from(sorted(VERSIONS))),
        *draw(st.lists(field, max_size=3)),
    ]
    segments = [fs.join(msh_fields)]
    for _ in range(draw(st.integers(0, 5))):
        seg_id = draw(st.sampled_from(SEGMENT_IDS) | segment_id)
        if seg_id in (b"MSH", b"FHS", b"BHS"):
            seg_id = b"ZZZ"
        segments.append(fs.join([seg_id, *draw(st.lists(field, max_size=6))]))
    separator = draw(st.sampled_from([b"\r", b"\n", b"\r\n"]))
    tail = draw(st.sampled_from([b"", separator]))
    return separator.join(segments) + tail


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message (or a vector file) with a few bytes inserted, deleted or replaced."""
    message = bytearray(draw(st.one_of(messages(), st.sampled_from(SEEDS))))
    interesting = st.sampled_from(
        list(b"\r\n\x00\x01\t\x7f|^~\\&#AZaz09.XZCMP+-\xff") + list(DELIMITERS)
    )
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        at = draw(st.integers(0, max(len(message), 1)))
        byte = draw(st.one_of(interesting, st.integers(0, 255)))
        if op == "insert" or not message:
            message.insert(at, byte)
        elif op == "delete":
            del message[min(at, len(message) - 1)]
        else:
            message[min(at, len(message) - 1)] = byte
    return bytes(message)


options = st.fixed_dictionaries(
    {},
    optional={
        "strict": st.booleans(),
        "max_field_len": st.sampled_from([0, 3, 10, 40]),
        "max_segment_len": st.sampled_from([0, 10, 60]),
        "max_message_len": st.sampled_from([0, 50, 200]),
    },
)


@SETTINGS
@given(messages(), st.booleans())
def test_generated_valid_messages_are_valid(message: bytes, strict: bool) -> None:
    # Random segments make no message structure: the envelope rules only.
    assert agree(message, strict=strict, **ENVELOPE) == ()


@SETTINGS
@given(mutated(), options)
def test_mutated_messages_agree_with_the_reference(message: bytes, opts: dict[str, Any]) -> None:
    agree(message, **opts)
    agree(message, **opts, **ENVELOPE)


@SETTINGS
@given(st.binary(max_size=600), options)
def test_arbitrary_bytes_agree_with_the_reference(data: bytes, opts: dict[str, Any]) -> None:
    agree(data, **opts)


@SETTINGS
@given(st.binary(max_size=300), options)
def test_arbitrary_bytes_after_a_valid_header(data: bytes, opts: dict[str, Any]) -> None:
    agree(b"MSH|^~\\&|" + data, **opts)


@BATCH_SETTINGS
@given(st.lists(st.one_of(mutated(), st.binary(max_size=200)), max_size=6), st.integers(1, 12))
def test_batch_equals_single_calls(batch: list[bytes], max_faults: int) -> None:
    # Neighbours share one buffer in a batch: a read past a message's length would
    # see the next message and change the answer.
    validator = NativeMessageValidator(max_faults=max_faults)
    assert validator.validate_many(batch) == [validator.validate(m) for m in batch]
    envelope = NativeMessageValidator(max_faults=max_faults, **ENVELOPE)
    assert envelope.validate_many(batch) == [envelope.validate(m) for m in batch]


_RULE_IDS = {
    ffi.string(lib.carelog_rule_name(i)).decode(): i for i in range(lib.CARELOG_RULE_COUNT)
}


@SETTINGS
@given(mutated(), st.binary(min_size=1, max_size=64))
def test_never_reads_past_len(message: bytes, poison: bytes) -> None:
    # The message followed by poison bytes in one buffer, validated with its own length,
    # must give what the message alone gives.
    buf = message + poison
    faults = ffi.new("carelog_fault[]", 1000)
    result = ffi.new("carelog_result *")
    validator = native_validator()
    rc = lib.carelog_validate_message(buf, len(message), validator._options, faults, 1000, result)
    assert rc == lib.CARELOG_OK
    got = [(faults[i].rule, faults[i].offset) for i in range(result.faults_written)]
    alone = validator.validate(message)
    assert got == [(_RULE_IDS[f.rule], f.offset) for f in alone]


@SETTINGS
@given(
    st.integers(0, 120),
    st.sampled_from([b"\x01", b"\x7f", b"\\", b"\\F\\", b"\\Q\\", b"|", b"^", b"~", b"&", b"\t"]),
    st.integers(0, 40),
)
def test_stop_bytes_anywhere_in_long_fields(at: int, stop: bytes, tail: int) -> None:
    # The walk scans 16 bytes at a time: a delimiter, escape or control byte at any
    # offset of a long field, block boundaries included, is found and located exactly.
    value = bytearray(b"ABCDEFGHIJ^KLMNOPQRST~UVWXYZ0123&456789abcdefghij" * 3)
    value[at:at] = stop
    message = SAMPLE_MSH + b"\rNTE|1||" + bytes(value) + b"|" + b"x" * tail + b"\r"
    agree(message, **ENVELOPE)
    agree(message)


SAMPLE_MSH = b"MSH|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101120000||ADT^A01^ADT_A01|M1|P|2.5.1"
