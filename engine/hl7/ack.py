"""Building HL7 v2 acknowledgements (chapter 2: MSH, MSA, ERR).

The ACK is answered in the sender's own version and encoding characters, with
sender and receiver swapped, and ERR segments in the form the version defines:
ERR-1 (``seg^seq^field^code&text&HL70357``) before v2.5, ERR-2/3/4/8 from v2.5.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from engine.hl7.message import Message, Separators
from engine.ports import Fault

__all__ = [
    "AckCode",
    "acknowledgement_code",
    "build_ack",
    "build_reject_ack",
    "format_hl7_datetime",
    "next_control_id",
]

# Texts of HL7 table 0357, for ERR-3.2 / ERR-1.4.2.
ERROR_TEXTS = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}


class AckCode(StrEnum):
    """MSA-1 acknowledgement codes (HL7 table 0008)."""

    AA = "AA"
    AE = "AE"
    AR = "AR"
    CA = "CA"
    CE = "CE"
    CR = "CR"


# Control ids of our ACKs: unique per process start, short enough for MSH-10 (ST 20).
_PREFIX = os.urandom(4).hex()
_COUNTER = itertools.count(1)


def next_control_id() -> str:
    """A control id for a message carelog sends (MSH-10, BHS-11, FHS-11): unique per process."""
    return f"{_PREFIX}{next(_COUNTER):012d}"


_last_stamp: tuple[datetime | None, str] = (None, "")


def format_hl7_datetime(moment: datetime) -> str:
    """``YYYYMMDDHHMMSS+ZZZZ`` (DTM with offset), the form MSH-7 takes.

    Every ACK carries one and the text changes once a second: the last one is kept.
    """
    global _last_stamp
    second = moment.replace(microsecond=0)
    last, text = _last_stamp
    if last is not None and second == last and second.tzinfo is last.tzinfo:
        return text
    text = moment.strftime("%Y%m%d%H%M%S%z")
    _last_stamp = (second, text)
    return text


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for p in version.split("."):
        if not p.isdigit():
            break
        parts.append(int(p))
    return tuple(parts) or (2, 5)


def _err_segments(
    faults: Sequence[Fault], seps: Separators, version: str, fallback_code: int
) -> list[str]:
    fs, cs, ss = seps.field, seps.component, seps.subcomponent
    modern = _version_tuple(version) >= (2, 5)
    out: list[str] = []
    for fault in faults:
        code = fault.code or fallback_code
        code_text = seps.escape_text(ERROR_TEXTS.get(code, "Application error"))
        user_text = seps.escape_text(fault.text)
        position = [
            fault.segment_id,
            str(fault.segment_index) if fault.segment_index else "",
            str(fault.field) if fault.field else "",
        ]
        if modern:
            location = cs.join(
                [
                    *position,
                    str(fault.repetition) if fault.repetition else "",
                    str(fault.component) if fault.component else "",
                    str(fault.subcomponent) if fault.subcomponent else "",
                ]
            ).rstrip(cs)
            code_field = cs.join([str(code), code_text, "HL70357"])
            out.append(
                fs.join(
                    ["ERR", "", location, code_field, fault.severity or "E", "", "", "", user_text]
                )
            )
        else:
            eld = cs.join([*position, ss.join([str(code), code_text, "HL70357"])])
            out.append(fs.join(["ERR", eld]))
    return out


def build_ack(
    message: Message,
    code: AckCode | str,
    *,
    faults: Sequence[Fault] = (),
    text: str = "",
    now: datetime,
    error_code: int = 207,
) -> bytes:
    """An ACK for ``message`` with MSA-1 ``code``, ERR segments for ``faults``.

    ``error_code`` is used for a fault without its own 0357 code, and for the
    single ERR written when the code is not AA and no fault locates the problem.
    """
    code = str(code)
    if code in ("AA", "CA") and not text:
        return _positive_ack(message, code, now)
    return _ack_segments(message, code, faults, text, now, error_code)


# The text of a positive ACK depends on the received MSH except MSH-7 and MSH-10 (the
# sender's time and control id): per sender and message type it is built once, as the
# parts around our time, our control id and the echoed MSH-10. Bounded: cleared when full.
_TEMPLATES: dict[tuple[object, ...], tuple[bytes, bytes, bytes, str]] = {}
_TEMPLATES_MAX = 512
_MARK = "\x00"  # stands for a value filled in per ACK; never valid in a header field


def _positive_ack(message: Message, code: str, now: datetime) -> bytes:
    """AA or CA without text or ERR: a cached template, filled in."""
    f = message.segments_named("MSH")[0]
    if len(f) < 19:
        f = f + [""] * (19 - len(f))
    key = (message.separators, code, f[3], f[4], f[5], f[6], f[9], f[11], f[12], f[18])
    parts = _TEMPLATES.get(key)
    if parts is None:
        parts = _template(message, code)
        if parts is None:
            return _ack_segments(message, code, (), "", now, 207)
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[key] = parts
    head, middle, tail, codec = parts
    return b"".join(
        (
            head,
            format_hl7_datetime(now).encode("ascii"),
            middle,
            next_control_id().encode("ascii"),
            tail,
            message.field("MSH", 10).encode(codec),
            b"\r",
        )
    )


def _template(message: Message, code: str) -> tuple[bytes, bytes, bytes, str] | None:
    """The fixed parts of ``message``'s positive ACK, split at the per-ACK values.

    None when a header field holds the mark itself (then the ACK is built in full).
    """
    if any(_MARK in v for v in message.segments_named("MSH")[0][1:]):
        return None
    text = _ack_segments(message, code, (), "", None, 207, mark=_MARK).decode("utf-8")
    codec = _codec_for(message)
    pieces = text.split(_MARK)
    if len(pieces) != 4 or pieces[3] != "\r":
        return None
    head, middle, tail = (p.encode(codec) for p in pieces[:3])
    return head, middle, tail, codec


def _ack_segments(
    message: Message,
    code: str,
    faults: Sequence[Fault],
    text: str,
    now: datetime | None,
    error_code: int,
    *,
    mark: str | None = None,
) -> bytes:
    """The ACK, built field by field; with ``mark``, it stands for MSH-7, MSH-10 and MSA-2."""
    seps = message.separators
    version = message.version or "2.5"
    trigger = message.trigger_event
    msg_type = "ACK" if not trigger else seps.component.join(["ACK", trigger])
    if trigger and _version_tuple(version) >= (2, 3, 1):
        msg_type += seps.component + "ACK"

    def raw_hdr(n: int) -> str:  # echo fields untouched
        return message.field("MSH", n)

    msh: list[str] = [
        "MSH",
        seps.encoding_characters,
        raw_hdr(5),
        raw_hdr(6),
        raw_hdr(3),
        raw_hdr(4),
        mark if mark is not None else "" if now is None else format_hl7_datetime(now),
        "",
        msg_type,
        mark if mark is not None else next_control_id(),
        raw_hdr(11) or "P",
        raw_hdr(12) or version,
    ]
    if raw_hdr(18):
        msh.extend(["", "", "", "", "", raw_hdr(18)])  # keep the sender's character set
    segments = [seps.field.join(msh)]
    msa = ["MSA", str(code), mark if mark is not None else raw_hdr(10)]
    if text and _version_tuple(version) < (2, 7):
        msa.append(seps.escape_text(text))
    segments.append(seps.field.join(msa))
    if str(code) not in ("AA", "CA"):
        located = list(faults) or [Fault(code=error_code, rule="", text=text or "")]
        segments.extend(_err_segments(located, seps, version, error_code))
    if mark is not None:
        return ("\r".join(segments) + "\r").encode("utf-8")
    return ("\r".join(segments) + "\r").encode(_codec_for(message))


def _codec_for(message: Message) -> str:
    charset = message.get("MSH", 18).upper()
    if "8859/1" in charset:
        return "latin-1"
    return "utf-8"


def build_reject_ack(
    raw: bytes, text: str, *, now: datetime, faults: Sequence[Fault] = ()
) -> bytes:
    """An AR for bytes whose header could not be read, echoing what can be found.

    The sender still needs MSA-2 to match its message, so the control id is dug
    out of an MSH-like first line when there is one.
    """
    first = raw.split(b"\r", 1)[0].split(b"\n", 1)[0].decode("latin-1")
    fs = first[3] if first.startswith("MSH") and len(first) > 3 else "|"
    fields = first.split(fs) if first.startswith("MSH") else ["MSH"]
    fields.insert(1, fs)

    def pick(n: int) -> str:
        value = (fields[n] if n < len(fields) else "").split("^")[0]
        return "".join(ch for ch in value if ch.isprintable() and ch not in "|~\\&")[:199]

    seps = Separators()
    version = pick(12) if len(fields) > 12 else "2.5"
    msh = [
        "MSH",
        seps.encoding_characters,
        pick(5),
        pick(6),
        pick(3),
        pick(4),
        format_hl7_datetime(now),
        "",
        _reject_type(fields, version or "2.5"),
        next_control_id(),
        "P",
        version or "2.5",
    ]
    msa = ["MSA", "AR", pick(10)]
    if text and _version_tuple(version or "2.5") < (2, 7):
        msa.append(seps.escape_text(text))  # MSA-3: the only text an ERR-1 reply carries
    segments = ["|".join(msh), "|".join(msa)]
    located = list(faults) or [Fault(code=100, rule="UNPARSEABLE", text=text)]
    segments.extend(_err_segments(located, seps, version or "2.5", 100))
    return ("\r".join(segments) + "\r").encode("utf-8")


def _reject_type(fields: list[str], version: str) -> str:
    """MSH-9 of a reject: ``ACK^<trigger>^ACK`` (``ACK^<trigger>`` before 2.3.1), the
    trigger read from the head with the head's own component separator when it can be."""
    enc = fields[2] if len(fields) > 2 else ""
    cs = enc[0] if enc else "^"
    parts = fields[9].split(cs) if len(fields) > 9 else []
    trigger = parts[1] if len(parts) > 1 else ""
    if not (trigger.isascii() and trigger.isalnum() and len(trigger) <= 7):
        return "ACK"
    return f"ACK^{trigger}^ACK" if _version_tuple(version) >= (2, 3, 1) else f"ACK^{trigger}"


_ACCEPT_EQUIVALENT = {"AA": "CA", "AE": "CE", "AR": "CR"}


def _wanted(condition: str, outcome: str) -> bool:
    """HL7 table 0155 (AL always, NE never, ER on error, SU on success); empty means AL."""
    condition = condition.upper() or "AL"
    if condition == "AL":
        return True
    if condition == "ER":
        return outcome != "AA"
    if condition == "SU":
        return outcome == "AA"
    return False  # NE, or a value outside the table: never


def acknowledgement_code(message: Message | None, outcome: str) -> str | None:
    """The MSA-1 to answer with, or ``None`` when the sender asked for no ACK.

    Original mode (MSH-15 and MSH-16 both empty): the application ACK, AA/AE/AR.
    Enhanced mode: over one MLLP connection carelog sends one ACK, never two.
    The application ACK when MSH-16 asks for one for this outcome (its AA
    also says the message is committed); else the accept ACK (CA/CE/CR) when
    MSH-15 asks for one; else nothing. An unreadable header gets the
    application answer, since its mode cannot be known.
    """
    if message is None:
        return outcome
    accept, application = message.get("MSH", 15), message.get("MSH", 16)
    if not accept and not application:
        return outcome
    if _wanted(application, outcome):
        return outcome
    if _wanted(accept, outcome):
        return _ACCEPT_EQUIVALENT[outcome]
    return None
