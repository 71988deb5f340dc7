"""Table-driven rule vectors (tests/data/hl7/validator) against the C validator."""

from __future__ import annotations

from typing import Any

import pytest

from native import NativeMessageValidator
from native._validator import ffi, lib
from tests.reference_validator import ENVELOPE, fault_key, load_vectors, validate

pytestmark = pytest.mark.native

VECTORS = load_vectors()
CASES = VECTORS["cases"]
SAMPLE = next(c["data"] for c in CASES if c["file"] == "valid_adt_a01.hl7")
MSH = SAMPLE.split(b"\r")[0]


def _case_id(case: dict[str, Any]) -> str:
    options = ",".join(f"{k}={v}" for k, v in sorted(case["options"].items()))
    return case["file"].removesuffix(".hl7") + (f"[{options}]" if options else "")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_vector(case: dict[str, Any]) -> None:
    faults = NativeMessageValidator(**case["options"]).validate(case["data"])
    assert [fault_key(f) for f in faults] == [fault_key(f) for f in case["faults"]]
    assert all(f.text for f in faults)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_reference_agrees_on_vector(case: dict[str, Any]) -> None:
    faults = validate(case["data"], **case["options"])
    assert [fault_key(f) for f in faults] == [fault_key(f) for f in case["faults"]]


def test_every_rule_has_a_failing_vector() -> None:
    names = {ffi.string(lib.carelog_rule_name(i)).decode() for i in range(lib.CARELOG_RULE_COUNT)}
    covered = {f["rule"] for case in CASES for f in case["faults"]}
    # NONE is no rule; FAULTS_TRUNCATED is added by the wrapper (test_fault_cap below).
    assert names - covered == {"NONE", "FAULTS_TRUNCATED"}


def test_every_profile_rule_is_shown_with_the_profiles_off() -> None:
    # Each profile vector that has faults has none when the profiles are off:
    # the rules, not the envelope, found them.
    profiled = [c for c in CASES if c["file"].startswith("profile_") and c["faults"]]
    assert len(profiled) >= 15
    for case in profiled:
        options = {**case["options"], **ENVELOPE}
        assert NativeMessageValidator(**options).validate(case["data"]) == (), case["file"]


def test_every_valid_vector_is_valid_in_strict_mode() -> None:
    valid = [c for c in CASES if c["file"].startswith(("valid_", "profile_valid_"))]
    assert len(valid) >= 9
    for case in valid:
        options = {k: v for k, v in case["options"].items() if k == "profiles"}
        faults = NativeMessageValidator(strict=True, **options).validate(case["data"])
        if case["file"] == "profile_valid_v23_sft.hl7":  # SFT is a 2.5 segment
            assert [f.rule for f in faults] == ["SEGMENT_UNKNOWN"]
        else:
            assert faults == (), case["file"]


def _with_msh7(value: bytes) -> bytes:
    fields = MSH.split(b"|")
    fields[6] = value
    return SAMPLE.replace(MSH, b"|".join(fields))


ENVELOPE_ONLY = NativeMessageValidator(**ENVELOPE)


@pytest.mark.parametrize("value", VECTORS["datetimes"]["valid"])
def test_valid_datetime(value: str) -> None:
    assert NativeMessageValidator().validate(_with_msh7(value.encode())) == ()


@pytest.mark.parametrize("value", VECTORS["datetimes"]["invalid"])
def test_invalid_datetime(value: str) -> None:
    faults = NativeMessageValidator().validate(_with_msh7(value.encode()))
    assert [(f.rule, f.code, f.location()) for f in faults] == [("BAD_DATETIME", 102, "MSH[1]-7.1")]


def _with_escape(body: str, encoding: bytes = b"^~\\&") -> bytes:
    msh = MSH.replace(b"^~\\&", encoding, 1)
    return msh + b"\rNTE|1||a\\" + body.encode() + b"\\b\r"


@pytest.mark.parametrize("body", VECTORS["escapes"]["valid"])
def test_valid_escape(body: str) -> None:
    assert ENVELOPE_ONLY.validate(_with_escape(body)) == ()


@pytest.mark.parametrize("body", VECTORS["escapes"]["invalid"])
def test_invalid_escape(body: str) -> None:
    faults = ENVELOPE_ONLY.validate(_with_escape(body))
    assert [(f.rule, f.location(), f.offset) for f in faults] == [
        ("BAD_ESCAPE", "NTE[1]-3.1.1", len(MSH) + 9)
    ]
    assert faults[0].text.endswith("(unknown sequence)")


def test_truncation_escape_needs_a_truncation_character() -> None:
    assert ENVELOPE_ONLY.validate(_with_escape("P", b"^~\\&#")) == ()
    assert [f.rule for f in ENVELOPE_ONLY.validate(_with_escape("P"))] == ["BAD_ESCAPE"]


def test_escape_cut_by_a_delimiter_keeps_positions() -> None:
    message = MSH + b"\rNTE|1||a\\F^b\\S\\~c\r"
    faults = ENVELOPE_ONLY.validate(message)
    assert [(f.rule, f.repetition, f.component, f.text[-14:]) for f in faults] == [
        ("BAD_ESCAPE", 1, 1, "(unterminated)")
    ]


def test_fault_cap_ends_with_a_truncation_note() -> None:
    message = MSH + b"\rNTE|1||" + b"\x01" * 250 + b"\r"
    faults = NativeMessageValidator(max_faults=5, **ENVELOPE).validate(message)
    assert [f.rule for f in faults] == ["CONTROL_CHARACTER"] * 5 + ["FAULTS_TRUNCATED"]
    assert faults[-1].severity == "I" and faults[-1].code == 0
    assert "250 found, 5 listed" in faults[-1].text
    assert len(ENVELOPE_ONLY.validate(message)) == 101


def test_batch_matches_single_calls_even_past_the_batch_fault_allowance() -> None:
    noisy = MSH + b"\rNTE|1||" + b"\x01" * 30 + b"\r"
    messages = [SAMPLE, noisy, b"", "MSH|^~\\&|x", noisy, *(c["data"] for c in CASES)]
    for validator in (NativeMessageValidator(), NativeMessageValidator(max_faults=3)):
        assert validator.validate_many(messages) == [validator.validate(m) for m in messages]
    assert NativeMessageValidator().validate_many([]) == []


def test_batches_larger_than_one_c_call() -> None:
    messages = [SAMPLE, SAMPLE.replace(b"|P|", b"|Q|")] * 1100
    answers = NativeMessageValidator().validate_many(messages)
    assert answers[::2] == [()] * 1100
    assert {f.rule for answer in answers[1::2] for f in answer} == {"UNSUPPORTED_PROCESSING_ID"}


def test_str_and_bytes_like_inputs() -> None:
    validator = NativeMessageValidator()
    bad = SAMPLE.replace(b"DOE", b"D\\Q\\E")
    expected = validator.validate(bad)
    assert expected
    assert validator.validate(bad.decode("ascii")) == expected
    assert validator.validate(bytearray(bad)) == expected  # type: ignore[arg-type]
    assert validator.validate(memoryview(bad)) == expected  # type: ignore[arg-type]
    # str is encoded as UTF-8; offsets count bytes. surrogateescape text round-trips.
    assert validator.validate(SAMPLE.decode("ascii").replace("DOE", "DÖE")) == ()
    raw = SAMPLE.replace(b"DOE", b"D\xffE")
    assert validator.validate(raw.decode("utf-8", "surrogateescape")) == validator.validate(raw)
    # A lone surrogate (not from surrogateescape) is passed through, not raised on: the
    # faults are those of the bytes it encodes to, and there are some (a short MSH).
    lone = "MSH|^~\\&|\ud800"
    faults = validator.validate(lone)
    assert faults and faults == validator.validate(lone.encode("utf-8", "surrogatepass"))
    with pytest.raises(TypeError):
        validator.validate(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_faults": 0}, {"max_message_len": -1}, {"max_segment_len": -1}, {"max_field_len": -5}],
)
def test_bad_constructor_arguments(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        NativeMessageValidator(**kwargs)


def test_fault_texts_carry_details() -> None:
    texts = [f.text for f in NativeMessageValidator(max_field_len=16).validate(SAMPLE)]
    assert texts == [
        "the field is longer than the configured limit"
        " (31 bytes, limit 16: CARELOG_MAX_FIELD_BYTES)"
    ]
    bad = SAMPLE.replace(b"ADT^A01^ADT_A01", b"ADT")
    (fault,) = NativeMessageValidator().validate(bad)
    assert fault.text.endswith("(MSH-9.2)") and fault.fatal and fault.location() == "MSH[1]-9.2"
    assert NativeMessageValidator(strict=True).strict
