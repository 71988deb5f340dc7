"""The typed wrapper around the compiled C validator (``native._validator``).

Why a wrapper: no cffi object may leave this module. Callers hand in ``bytes``
(or ``str``) and get back ``engine.ports.Fault`` values; C error codes become
``engine.errors.NativeValidatorError``. There is deliberately no pure-Python
fallback: a missing or stale build fails at import with a rebuild hint, so a
deployment can never silently validate with different rules.

Thread safety: every call allocates its own output buffers, the options struct
is only read by C, and cffi releases the GIL for the duration of each C call,
so one ``NativeMessageValidator`` may be shared by any number of threads.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from engine.errors import NativeValidatorError
from engine.ports import Fault
from native.profiles import DEFAULT_SCHEMAS, CompiledProfiles, compile_profiles

_REBUILD_HINT = "rebuild it with `make install` (or `pip install -e .` in the project root)"

try:
    from native._validator import ffi, lib
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"the native validator extension is not built: {exc}; {_REBUILD_HINT}"
    ) from exc

__all__ = ["EXPECTED_VERSION", "LIMIT_SETTINGS", "NativeMessageValidator", "load_profiles"]

#: The C ABI this wrapper was written against (carelog_validator_version()).
EXPECTED_VERSION = "0.4.0"

_found_version = ffi.string(lib.carelog_validator_version()).decode("ascii")
if _found_version != EXPECTED_VERSION:
    raise ImportError(
        f"native._validator is version {_found_version} but native/validator.py expects "
        f"{EXPECTED_VERSION}: the compiled module is stale; {_REBUILD_HINT}"
    )

# The rule tables live in C; read them once so that names and texts cannot drift.
_RULE_NAMES: tuple[str, ...] = tuple(
    ffi.string(lib.carelog_rule_name(i)).decode("ascii") for i in range(lib.CARELOG_RULE_COUNT)
)
_RULE_TEXTS: tuple[str, ...] = tuple(
    ffi.string(lib.carelog_rule_text(i)).decode("ascii") for i in range(lib.CARELOG_RULE_COUNT)
)

# Faults kept per message in a batch call. Valid messages have none, so the
# batch stays small; a message with more is validated again on its own with the
# full allowance, which keeps validate_many(ms) == [validate(m) for m in ms].
_BATCH_FAULTS = 8
# Messages per C batch call: bounds the memory of one call's arrays. 128
# keeps the joined input (~150 KB of 1 KB messages) and the outputs in cache;
# measured on bench.validator in one run: 128 and 96 about 6% faster per
# message than 256 (whose buffers are mmap'ed and page-faulted per call),
# 1024 20% slower.
_BATCH_MESSAGES = 128

# The array typecode of C's size_t (the lengths passed to the batch call).
_SIZE_T = next(code for code in "LQI" if array(code).itemsize == ffi.sizeof("size_t"))

# Output buffers are written by C before they are read (results are memset,
# faults are read only up to faults_written), so skip cffi's zero-fill.
_new_uncleared = ffi.new_allocator(should_clear_after_alloc=False)


def _as_bytes(message: bytes | bytearray | memoryview | str) -> bytes:
    """The bytes the C code sees; ``str`` is encoded once as UTF-8.

    surrogateescape first, so that text decoded with it round-trips to the
    original bytes; any other lone surrogate is passed through rather than
    raising, because validation must report on any input, not fail on it.
    """
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        try:
            return message.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return message.encode("utf-8", "surrogatepass")
    if isinstance(message, bytearray | memoryview):
        return bytes(message)
    raise TypeError(f"expected bytes or str, got {type(message).__name__}")


_PROFILES: dict[Path, CompiledProfiles] = {}

#: The setting (engine/config.py) that raises each size limit: named in the fault text.
LIMIT_SETTINGS = {
    "MESSAGE_TOO_LONG": "CARELOG_MAX_FRAME_BYTES",
    "SEGMENT_TOO_LONG": "CARELOG_MAX_SEGMENT_BYTES",
    "FIELD_TOO_LONG": "CARELOG_MAX_FIELD_BYTES",
}
_TYPED_RULES = frozenset({"BAD_DATE", "BAD_DATETIME", "BAD_TIME", "BAD_NUMBER", "BAD_SEQUENCE_ID"})


def load_profiles(directory: Path = DEFAULT_SCHEMAS) -> CompiledProfiles:
    """The compiled profiles of directory, checked by the C code; compiled once per process.

    Raises:
        ConfigError: the JSON is missing or malformed.
        NativeValidatorError: the C code refuses the compiled blob (a compiler bug).
    """
    key = Path(directory).resolve()
    if key not in _PROFILES:
        compiled = compile_profiles(key)
        _check(lib.carelog_profile_check(compiled.blob, len(compiled.blob)))
        _PROFILES[key] = compiled
    return _PROFILES[key]


def _check(rc: int) -> None:
    """Raise NativeValidatorError for a non-zero C return code."""
    if rc != lib.CARELOG_OK:
        reason = ffi.string(lib.carelog_strerror(rc)).decode("ascii")
        raise NativeValidatorError(f"native validator failed: {reason} (code {rc})")


class NativeMessageValidator:
    """``engine.ports.MessageValidator`` backed by the C validator.

    Checks the message envelope: MSH first, MSH-1/MSH-2 separators, segment
    ids and separators, control bytes, escape sequences, size limits, and the
    MSH fields an engine needs to answer (MSH-7, 9, 10, 11, 12). With
    profiles (the default: ``schemas/hl7v2``) also the message type and
    trigger (200/201), segment order and cardinality (100), required fields
    (101), data types (102) and table values (103) per version; see
    schemas/README.md for what the tolerant and strict levels report.
    Positions in each Fault follow HL7 (MSH-1 is the field separator);
    ``offset`` is a byte offset into the message as bytes (UTF-8 for ``str``
    input).

    Args:
        max_message_len: bytes; longer messages get one fatal MESSAGE_TOO_LONG
            fault and are not read. 0 means the C default (1 MiB).
        max_segment_len: bytes per segment, terminator excluded; 0 = 1 MiB.
        max_field_len: bytes per field, all repetitions; 0 = 1 MiB (an OBX-5 document fits).
        strict: the strict level (conformance testing of a sender): blank
            lines, unknown and Z segments, user-defined table values,
            lengths and undefined fields are reported too or as errors.
        max_faults: faults listed per message; when more are found, the list
            ends with one FAULTS_TRUNCATED fault (severity "I") giving the
            total. Bounds the memory a hostile message can cost.
        profiles: the directory of the message profiles, compiled ones, or
            None for the envelope rules only.

    Raises:
        ValueError: a limit is negative or max_faults is below 1.
        ConfigError: the profiles cannot be read.
    """

    def __init__(
        self,
        *,
        max_message_len: int = 0,
        max_segment_len: int = 0,
        max_field_len: int = 0,
        strict: bool = False,
        max_faults: int = 100,
        profiles: Path | CompiledProfiles | None = DEFAULT_SCHEMAS,
    ) -> None:
        for name, value in (
            ("max_message_len", max_message_len),
            ("max_segment_len", max_segment_len),
            ("max_field_len", max_field_len),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0 (0 = default), got {value}")
        if max_faults < 1:
            raise ValueError(f"max_faults must be >= 1, got {max_faults}")
        self._max_faults = max_faults
        self._options: Any = ffi.new("carelog_options *")
        self._options.max_message_len = max_message_len
        self._options.max_segment_len = max_segment_len
        self._options.max_field_len = max_field_len
        self._options.strict = 1 if strict else 0
        if isinstance(profiles, Path):
            profiles = load_profiles(profiles)
        self.profiles = profiles
        if profiles is not None:
            _check(lib.carelog_profile_check(profiles.blob, len(profiles.blob)))
            # Owned by this object, read by C on every call: keep it alive here.
            self._blob: Any = ffi.new("unsigned char[]", profiles.blob)
            self._options.profile = self._blob
            self._options.profile_len = len(profiles.blob)
        # Effective limits, for the fault texts.
        self._limits = {
            "MESSAGE_TOO_LONG": max_message_len or lib.CARELOG_DEFAULT_MAX_MESSAGE_LEN,
            "SEGMENT_TOO_LONG": max_segment_len or lib.CARELOG_DEFAULT_MAX_SEGMENT_LEN,
            "FIELD_TOO_LONG": max_field_len or lib.CARELOG_DEFAULT_MAX_FIELD_LEN,
        }

    @property
    def strict(self) -> bool:
        """Whether warnings are reported too."""
        return bool(self._options.strict)

    def validate(self, message: bytes | str) -> tuple[Fault, ...]:
        """Every fault in ``message``, in the order met; an empty tuple means valid.

        Raises:
            NativeValidatorError: the C call itself failed (never for bad messages).
            TypeError: ``message`` is not bytes-like or str.
        """
        data = _as_bytes(message)
        faults = _new_uncleared("carelog_fault[]", self._max_faults)
        result = _new_uncleared("carelog_result *")
        _check(
            lib.carelog_validate_message(
                data, len(data), self._options, faults, self._max_faults, result
            )
        )
        return self._collect(faults, result, data)

    def validate_many(self, messages: Sequence[bytes | str]) -> list[tuple[Fault, ...]]:
        """``validate`` for each message, through one C call per 128 messages.

        The messages are joined into one buffer and passed with their offsets,
        which saves the per-call overhead; the answer equals
        ``[self.validate(m) for m in messages]``.

        Raises:
            NativeValidatorError: the C call itself failed.
            TypeError: a message is not bytes-like or str.
        """
        # All bytes (the usual case): no per-message conversion. The type set
        # is cheaper than a per-item check, and bytes.join would accept other
        # buffers whose len() is not their size in bytes.
        datas: list[bytes]
        if set(map(type, messages)) <= {bytes}:
            # A list slices; any Sequence may not (deque). All bytes: the type set says so.
            datas = cast(list[bytes], list(messages))
        else:
            datas = [_as_bytes(m) for m in messages]
        answers: list[tuple[Fault, ...]] = []
        per = min(self._max_faults, _BATCH_FAULTS)
        faulty = ffi.new("size_t *")
        for first in range(0, len(datas), _BATCH_MESSAGES):
            chunk = datas[first : first + _BATCH_MESSAGES]
            n = len(chunk)
            # Back to back in one buffer: C finds each message from the lengths
            # alone (offsets NULL), read in place from an array, not a list.
            lengths = array(_SIZE_T, map(len, chunk))
            buf = b"".join(chunk)
            faults = _new_uncleared("carelog_fault[]", n * per)
            results = _new_uncleared("carelog_result[]", n)
            _check(
                lib.carelog_validate_batch(
                    buf,
                    len(buf),
                    ffi.NULL,
                    ffi.from_buffer("size_t[]", lengths),
                    n,
                    self._options,
                    faults,
                    per,
                    results,
                    faulty,
                )
            )
            if faulty[0] == 0:  # the common case: skip reading n result structs
                answers += [()] * n
                continue
            for i in range(n):
                result = results + i
                if result.fault_count == 0:
                    answers.append(())
                elif result.fault_count > result.faults_written and per < self._max_faults:
                    answers.append(self.validate(chunk[i]))
                else:
                    answers.append(self._collect(faults + i * per, result, chunk[i]))
        return answers

    def _collect(self, faults: Any, result: Any, data: bytes) -> tuple[Fault, ...]:
        """Convert the C faults (and a truncation note) into Fault values."""
        collected = [self._fault(faults[i], data) for i in range(result.faults_written)]
        if result.fault_count > result.faults_written:
            rule = lib.CARELOG_RULE_FAULTS_TRUNCATED
            collected.append(
                Fault(
                    code=lib.carelog_rule_code(rule),
                    rule=_RULE_NAMES[rule],
                    text=f"{_RULE_TEXTS[rule]}: {result.fault_count} found, "
                    f"{result.faults_written} listed",
                    severity="I",
                )
            )
        return tuple(collected)

    def _fault(self, f: Any, data: bytes) -> Fault:
        """One C fault as a Fault, with the rule text made specific where it helps."""
        rule = _RULE_NAMES[f.rule] if 0 <= f.rule < len(_RULE_NAMES) else "UNKNOWN"
        segment_id = ffi.string(f.segment_id).decode("ascii")
        return Fault(
            code=f.code,
            rule=rule,
            text=self._text(rule, f, segment_id, data),
            segment_id=segment_id,
            segment_index=f.segment_index,
            field=f.field,
            repetition=f.repetition,
            component=f.component,
            subcomponent=f.subcomponent,
            offset=f.offset,
            severity=f.severity.decode("ascii"),
            fatal=bool(f.fatal),
        )

    def _text(self, rule: str, f: Any, segment_id: str, data: bytes) -> str:
        """The rule's text plus the fault's detail number, worded per rule.

        Values are quoted only from MSH (type, trigger, version): texts end up
        in ERR-8 and may be shown to operators, and other fields carry PHI.
        """
        text = _RULE_TEXTS[f.rule] if 0 <= f.rule < len(_RULE_TEXTS) else "unknown rule"
        detail = f.detail
        where = f"{segment_id}-{f.field}" + (f".{f.component}" if f.component else "")
        where += f".{f.subcomponent}" if f.component and f.subcomponent else ""
        if rule in ("UNSUPPORTED_MESSAGE_TYPE", "UNSUPPORTED_EVENT", "UNSUPPORTED_VERSION"):
            return f"{text}: {_value_at(data, f.offset)!r}"
        if rule in ("SEGMENT_MISSING", "SEGMENT_UNEXPECTED", "SEGMENT_UNKNOWN"):
            return f"{text} ({segment_id})"
        if rule == "TABLE_VALUE":
            name = self.profiles.tables.get(detail, "") if self.profiles else ""
            return f"{text} {detail:04d}{f' ({name})' if name else ''} at {where}"
        if rule == "VALUE_TOO_LONG":
            return f"{text} ({where}, maximum {detail})"
        if rule == "FIELD_NOT_DEFINED":
            return f"{text} ({segment_id} has {detail} fields)"
        if rule in _TYPED_RULES:
            return f"{text} ({where})"
        if rule in self._limits:
            return f"{text} ({detail} bytes, limit {self._limits[rule]}: {LIMIT_SETTINGS[rule]})"
        if rule == "CONTROL_CHARACTER":
            return f"{text} (byte 0x{detail:02X})"
        if rule == "BAD_FIELD_SEPARATOR":
            return f"{text} ({'missing' if detail == 0 else f'byte 0x{detail:02X}'})"
        if rule == "BAD_ENCODING_CHARACTERS":
            return f"{text} ({detail} found)"
        if rule == "BAD_ESCAPE":
            return f"{text} ({'unterminated' if detail == 0 else 'unknown sequence'})"
        if rule == "REQUIRED_FIELD_MISSING":
            return f"{text} ({where})"
        return text


def _value_at(data: bytes, offset: int) -> str:
    """The MSH component at offset, up to the next delimiter (for 200/201/203 texts)."""
    end = offset
    while end < len(data) and end - offset < 20 and data[end] in _VALUE_BYTES:
        end += 1
    return data[offset:end].decode("ascii")


_VALUE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._")
