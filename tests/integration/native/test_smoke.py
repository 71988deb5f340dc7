"""The extension loads, its version and rule tables match the wrapper's, errors map."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import native
from engine.errors import ConfigError, NativeValidatorError
from engine.ports import MessageValidator
from native import NativeMessageValidator
from native import validator as wrapper
from native._validator import ffi, lib
from native.validator import load_profiles
from tests.reference_validator import RULES, VECTORS

pytestmark = pytest.mark.native

SAMPLE = (VECTORS / "valid_adt_a01.hl7").read_bytes()


def test_library_loads_and_version_matches() -> None:
    version = ffi.string(lib.carelog_validator_version()).decode("ascii")
    assert version == wrapper.EXPECTED_VERSION


def test_package_exports() -> None:
    assert native.__all__ == ["NativeMessageValidator"]
    assert native.NativeMessageValidator is NativeMessageValidator


def test_stale_build_is_refused_with_a_rebuild_hint() -> None:
    # Re-run the wrapper's source expecting another ABI: the import-time check must fire.
    path = Path(wrapper.__file__)
    source = path.read_text().replace(
        f'EXPECTED_VERSION = "{wrapper.EXPECTED_VERSION}"', 'EXPECTED_VERSION = "0.0.0-test"'
    )
    assert "0.0.0-test" in source
    with pytest.raises(ImportError, match="make install"):
        exec(compile(source, str(path), "exec"), {"__name__": "native._stale_copy"})


def test_rule_tables_match_the_reference() -> None:
    names = [ffi.string(lib.carelog_rule_name(i)).decode() for i in range(lib.CARELOG_RULE_COUNT)]
    assert names[0] == "NONE"
    assert len(set(names)) == len(names)
    assert {n: lib.carelog_rule_code(i) for i, n in enumerate(names) if i} == {
        n: code for n, (code, _severity) in RULES.items()
    }
    for i in range(lib.CARELOG_RULE_COUNT):
        assert ffi.string(lib.carelog_rule_text(i))
    assert ffi.string(lib.carelog_rule_name(lib.CARELOG_RULE_COUNT)) == b"UNKNOWN"
    assert ffi.string(lib.carelog_rule_name(-1)) == b"UNKNOWN"
    assert lib.carelog_rule_code(lib.CARELOG_RULE_COUNT) == -1


def test_error_texts() -> None:
    assert ffi.string(lib.carelog_strerror(lib.CARELOG_OK)) == b"success"
    for code in range(1, lib.CARELOG_E_COUNT):
        assert ffi.string(lib.carelog_strerror(code)) not in (b"", b"unknown error")
    assert ffi.string(lib.carelog_strerror(99)) == b"unknown error"


def test_sample_message_is_valid() -> None:
    validator: MessageValidator = NativeMessageValidator()
    assert validator.validate(SAMPLE) == ()
    assert validator.validate_many([SAMPLE, SAMPLE]) == [(), ()]


def test_c_argument_errors() -> None:
    out = ffi.new("carelog_result *")
    faults = ffi.new("carelog_fault[]", 4)
    assert lib.carelog_validate_message(ffi.NULL, 5, ffi.NULL, faults, 4, out) == lib.CARELOG_E_ARGS
    assert lib.carelog_validate_message(SAMPLE, len(SAMPLE), ffi.NULL, faults, 4, ffi.NULL) == (
        lib.CARELOG_E_ARGS
    )
    assert lib.carelog_validate_message(SAMPLE, 3, ffi.NULL, ffi.NULL, 4, out) == lib.CARELOG_E_ARGS
    # NULL buffer with length 0 is an empty message, not an error.
    assert lib.carelog_validate_message(ffi.NULL, 0, ffi.NULL, faults, 4, out) == lib.CARELOG_OK
    assert out.fault_count == 1 and faults[0].rule == lib.CARELOG_RULE_EMPTY_MESSAGE
    options = ffi.new("carelog_options *", {"strict": 2})
    assert lib.carelog_validate_message(SAMPLE, 10, options, faults, 4, out) == (
        lib.CARELOG_E_OPTIONS
    )


def test_c_batch_rejects_ranges_outside_the_buffer() -> None:
    results = ffi.new("carelog_result[]", 2)
    faults = ffi.new("carelog_fault[]", 8)
    offsets = ffi.new("size_t[]", [0, 10])
    lengths = ffi.new("size_t[]", [10, len(SAMPLE)])
    rc = lib.carelog_validate_batch(
        SAMPLE, len(SAMPLE), offsets, lengths, 2, ffi.NULL, faults, 4, results, ffi.NULL
    )
    assert rc == lib.CARELOG_E_RANGE
    huge = ffi.cast("size_t", -1)
    rc = lib.carelog_validate_batch(
        SAMPLE, len(SAMPLE), offsets, lengths, 2, ffi.NULL, faults, huge, results, ffi.NULL
    )
    assert rc == lib.CARELOG_E_ARGS
    assert (
        lib.carelog_validate_batch(
            ffi.NULL, 0, ffi.NULL, ffi.NULL, 0, ffi.NULL, ffi.NULL, 0, ffi.NULL, ffi.NULL
        )
        == lib.CARELOG_OK
    )


def test_c_batch_counts_the_messages_with_faults() -> None:
    bad = SAMPLE.replace(b"|P|", b"|X|")
    buf = SAMPLE + bad + SAMPLE
    offsets = ffi.new("size_t[]", [0, len(SAMPLE), len(SAMPLE) + len(bad)])
    lengths = ffi.new("size_t[]", [len(SAMPLE), len(bad), len(SAMPLE)])
    results = ffi.new("carelog_result[]", 3)
    faulty = ffi.new("size_t *", 99)
    rc = lib.carelog_validate_batch(
        buf, len(buf), offsets, lengths, 3, ffi.NULL, ffi.NULL, 0, results, faulty
    )
    assert rc == lib.CARELOG_OK and faulty[0] == 1
    assert [results[i].fault_count for i in range(3)] == [0, 1, 0]


def _blob() -> bytes:
    return load_profiles().blob


def test_compiled_profiles_pass_the_c_check() -> None:
    blob = _blob()
    assert blob[:4] == b"CLPF"
    assert lib.carelog_profile_check(blob, len(blob)) == lib.CARELOG_OK


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # short
        lambda b: b + b"\0",  # long
        lambda b: b"XLPF" + b[4:],  # magic
        lambda b: b[:4] + b"\x01\x00" + b[6:],  # format (1: before the domain flag)
        lambda b: b[:6] + b"\xff\xff" + b[8:],  # message count
        # the first message's root points past the nodes
        lambda b: b[:42] + b"\xff\xff" + b[44:],
    ],
)
def test_damaged_profiles_are_refused(damage: Any) -> None:
    blob = damage(_blob())
    assert lib.carelog_profile_check(blob, len(blob)) == lib.CARELOG_E_PROFILE


def test_damaged_header_is_refused_per_call() -> None:
    validator = NativeMessageValidator()
    validator._options.profile_len = 10  # only reachable by poking at the private struct
    with pytest.raises(NativeValidatorError, match="profile blob is malformed"):
        validator.validate(SAMPLE)
    with pytest.raises(NativeValidatorError, match="profile blob is malformed"):
        validator.validate_many([SAMPLE])


def test_profile_json_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the message profiles"):
        NativeMessageValidator(profiles=tmp_path)
    (tmp_path / "messages").mkdir()
    (tmp_path / "tables.json").write_text("{}")
    (tmp_path / "segments.json").write_text("{}")
    with pytest.raises(ConfigError, match="no message profiles"):
        NativeMessageValidator(profiles=tmp_path)


def test_profiles_off_checks_the_envelope_only() -> None:
    unknown = SAMPLE.replace(b"ADT^A01", b"ZZZ^Z01")
    assert [f.code for f in NativeMessageValidator().validate(unknown)] == [200]
    assert NativeMessageValidator(profiles=None).validate(unknown) == ()


def test_c_errors_become_native_validator_error() -> None:
    validator = NativeMessageValidator()
    validator._options.strict = 7  # only reachable by poking at the private struct
    with pytest.raises(NativeValidatorError, match="invalid option value"):
        validator.validate(SAMPLE)
    with pytest.raises(NativeValidatorError, match="invalid option value"):
        validator.validate_many([SAMPLE])


def test_one_validator_shared_by_threads() -> None:
    bad = SAMPLE.replace(b"|P|", b"|X|")
    validator = NativeMessageValidator()
    expected = {SAMPLE: (), bad: validator.validate(bad)}
    assert expected[bad]
    failures: list[str] = []

    def work(message: bytes) -> None:
        for _ in range(300):
            if validator.validate(message) != expected[message]:
                failures.append("validate")
            if validator.validate_many([message, message]) != [expected[message]] * 2:
                failures.append("validate_many")

    threads = [threading.Thread(target=work, args=(m,)) for m in [SAMPLE, bad] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_the_gil_is_released_during_c_work() -> None:
    # One long C call (the same message 200,000 times, one batch): a Python
    # thread that only counts must keep counting while it runs. Were the GIL
    # held, the counter could not move until the call returned.
    n = 200_000
    validator = NativeMessageValidator()
    offsets = ffi.new("size_t[]", [0] * n)
    lengths = ffi.new("size_t[]", [len(SAMPLE)] * n)
    results = ffi.new("carelog_result[]", n)
    counted = [0]
    running = threading.Event()
    stop = threading.Event()

    def count() -> None:
        running.set()
        while not stop.is_set():
            counted[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    running.wait()
    before = counted[0]
    started = time.perf_counter()
    rc = lib.carelog_validate_batch(
        SAMPLE,
        len(SAMPLE),
        offsets,
        lengths,
        n,
        validator._options,
        ffi.NULL,
        0,
        results,
        ffi.NULL,
    )
    seconds = time.perf_counter() - started
    during = counted[0] - before
    stop.set()
    counter.join()
    assert rc == lib.CARELOG_OK and results[n - 1].fault_count == 0
    assert seconds > 0.02, "the call was too short to tell"
    assert during > 1000, f"the counter moved {during} times in a {seconds:.3f} s C call"
