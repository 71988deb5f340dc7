"""The extension loads, its version and rule tables match the wrapper's, errors map."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import native
from engine.errors import NativeValidatorError
from engine.ports import MessageValidator
from native import NativeMessageValidator
from native import validator as wrapper
from native._validator import ffi, lib
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
        SAMPLE, len(SAMPLE), offsets, lengths, 2, ffi.NULL, faults, 4, results
    )
    assert rc == lib.CARELOG_E_RANGE
    huge = ffi.cast("size_t", -1)
    rc = lib.carelog_validate_batch(
        SAMPLE, len(SAMPLE), offsets, lengths, 2, ffi.NULL, faults, huge, results
    )
    assert rc == lib.CARELOG_E_ARGS
    assert (
        lib.carelog_validate_batch(
            ffi.NULL, 0, ffi.NULL, ffi.NULL, 0, ffi.NULL, ffi.NULL, 0, ffi.NULL
        )
        == lib.CARELOG_OK
    )


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
