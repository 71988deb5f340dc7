"""Issue 15, the validator and wire half, through the real validator and real stores.

- Tolerant structure: a segment the domain does not read, out of the standard's
  order, is a warning (the admission is AA and registers the patient); a
  domain segment out of place stays an error; strict keeps both errors.
- ERL-2: the ERR of every version locates a fault by the occurrence of its
  segment type (the second OBX is OBX^2), validator and handler faults alike.
- Limits: an ORU carrying a 600 KB embedded document is accepted by default; a
  smaller CARELOG_MAX_FIELD_BYTES refuses it and names the setting.

The stores matter for what is kept (the patient registered, nothing stored on
AE): each scenario runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from adapters.crypto.setup import prepare_keys
from engine.application.ingestion import Ingestion
from engine.application.outcome import IngestOutcome
from engine.config import Settings
from engine.hl7.ack import build_ack
from engine.hl7.message import parse_message
from native import NativeMessageValidator
from tests.fakes import FixedClock
from tests.messages import VERSIONS, adt, oru

pytestmark = pytest.mark.native

DG1 = "DG1|1||I10^Hypertension^I10"
AL1 = "AL1|1|DA|PCN^Penicillin"


def _engine(store: str, **validator: object) -> Ingestion:
    settings = Settings(store=store)
    if settings.backend == "sqlite":
        settings.sqlite_path().parent.mkdir(parents=True, exist_ok=True)
    settings = prepare_keys(settings)  # encrypted at rest, as `serve` makes the keys
    return Ingestion(
        settings.eventsourcing_env(),
        validator=NativeMessageValidator(**validator),  # type: ignore[arg-type]
        clock=FixedClock(),
    )


@pytest.fixture
def engine(durable_store_url: str) -> Iterator[Ingestion]:
    ingestion = _engine(durable_store_url)
    yield ingestion
    ingestion.close()


def _with(message: bytes, *segments: str, after: str = "PV1") -> bytes:
    """message with segments inserted after its first `after` segment."""
    lines = message.decode().rstrip("\r").split("\r")
    at = next(i for i, s in enumerate(lines) if s.startswith(after)) + 1
    return ("\r".join([*lines[:at], *segments, *lines[at:]]) + "\r").encode()


def _stored(app: Ingestion, message: bytes) -> tuple[str, list[str]]:
    before = app.recorder.max_notification_id() or 0
    outcome = app.ingest(message, "test")
    kinds = [n.topic.rsplit(":", 1)[1] for n in app.recorder.select_notifications(before + 1, 50)]
    return outcome.ack_code, kinds


@pytest.mark.parametrize("version", VERSIONS)
def test_dg1_before_al1_in_an_a01_is_admitted(engine: Ingestion, version: str) -> None:
    message = _with(adt("A01", f"T{version}", version=version), DG1, AL1)
    code, kinds = _stored(engine, message)
    assert code == "AA"
    assert "Patient.Registered" in kinds and "Encounter.Admitted" in kinds


@pytest.mark.parametrize("version", [v for v in VERSIONS if v >= "2.4"])  # ROL since 2.4
def test_rol_after_nk1_is_admitted(engine: Ingestion, version: str) -> None:
    message = _with(
        adt("A01", f"R{version}", version=version),
        "NK1|1|DOE^JOHN|SPO",
        "ROL|1|AD|AT|1234^SMITH^ANN",
        after="PID",
    )
    assert _stored(engine, message)[0] == "AA"


def test_a_domain_segment_out_of_place_is_still_ae_and_stores_nothing(engine: Ingestion) -> None:
    pv1 = "PV1|1|I|WARD2^1^A^HOSP||||||||||||||||V9^^^HOSP^VN"
    message = _with(adt("A01", "D1"), DG1, AL1, pv1)
    before = engine.recorder.max_notification_id()
    outcome = engine.ingest(message, "test")
    assert outcome.ack_code == "AE"
    assert [(f.rule, f.location()) for f in outcome.faults] == [
        ("SEGMENT_UNEXPECTED", "AL1[1]"),
        ("SEGMENT_UNEXPECTED", "PV1[2]"),
    ]
    # Only the message's own receipt record, no patient or visit.
    after = engine.recorder.select_notifications((before or 0) + 1, 50)
    assert all("Patient" not in n.topic and "Encounter" not in n.topic for n in after)


def test_strict_keeps_misplaced_segments_errors() -> None:
    message = _with(adt("A01", "S1"), DG1, AL1)
    strict = NativeMessageValidator(strict=True).validate(message)
    tolerant = NativeMessageValidator().validate(message)
    assert [(f.rule, f.severity) for f in strict] == [("SEGMENT_UNEXPECTED", "E")]
    assert [(f.rule, f.severity) for f in tolerant] == [("SEGMENT_UNEXPECTED", "W")]


# --- ERL-2 -----------------------------------------------------------------------------


def _ack(outcome: IngestOutcome) -> bytes:
    assert outcome.message is not None
    now = FixedClock().now()
    return build_ack(outcome.message, outcome.ack_code, faults=outcome.faults, now=now)


def _err_locations(ack: bytes) -> list[str]:
    msg = parse_message(ack)
    out = []
    for n in range(1, len(msg.segments_named("ERR")) + 1):
        if msg.version >= "2.5":
            out.append(msg.field("ERR", 2, n))
        else:
            out.append(msg.field("ERR", 1, n).rsplit("^", 1)[0])
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_err_locates_the_second_obx_as_obx_2(engine: Ingestion, version: str) -> None:
    good = {1: "1", 2: "NM", 3: "GLU^Glucose", 5: "5.1", 11: "F"}
    bad = {**good, 1: "2", 5: "high"}
    outcome = engine.ingest(oru(f"E{version}", [good, bad], version=version), "test")
    assert outcome.ack_code == "AE"
    ack = _ack(outcome)
    expected = "OBX^2^5^1^1" if version >= "2.5" else "OBX^2^5"
    assert _err_locations(ack) == [expected]


@pytest.mark.parametrize("version", VERSIONS)
def test_handler_faults_carry_erl_2_too(engine: Ingestion, version: str) -> None:
    # A02 on a visit nobody admitted: the handler's 204 at PV1-19, the first PV1.
    outcome = engine.ingest(adt("A02", f"H{version}", version=version, visit="NOPE"), "test")
    assert outcome.ack_code == "AE"
    ack = _ack(outcome)
    assert _err_locations(ack) == ["PV1^1^19"]


def test_message_sequence_counts_the_segment_type() -> None:
    msg = parse_message(oru("Q1", [{1: "1"}, {1: "2"}, {1: "3"}]))
    # MSH PID PV1 OBR OBX OBX OBX
    assert [msg.sequence(p) for p in range(0, 9)] == [0, 1, 1, 1, 1, 1, 2, 3, 0]
    assert msg.position("OBX", 2) == 6


# --- limits ----------------------------------------------------------------------------


def _oru_with_document(size: int, control_id: str, version: str = "2.5.1") -> bytes:
    pdf = base64.b64encode(b"%PDF-1.4 " + b"\x00\x01" * (size // 2)).decode()[:size]
    obx = {1: "1", 2: "ED", 3: "11502-2^Lab report^LN", 5: f"LAB^AP^PDF^Base64^{pdf}", 11: "F"}
    return oru(control_id, [obx], version=version)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_embedded_document_of_600_kb_is_accepted_by_default(
    engine: Ingestion, version: str
) -> None:
    limits = Settings().validator_limits()
    app = engine
    app.validator = NativeMessageValidator(**limits)
    outcome = app.ingest(_oru_with_document(600_000, "PDF1", version), "test")
    assert outcome.ack_code == "AA", [f.text for f in outcome.faults]


def test_a_smaller_field_limit_refuses_it_and_names_the_setting() -> None:
    settings = Settings.from_env({"CARELOG_MAX_FIELD_BYTES": "65536"})
    assert settings.validator_limits() == {
        "max_message_len": 1 << 20,
        "max_segment_len": 1 << 20,
        "max_field_len": 65536,
    }
    faults = NativeMessageValidator(**settings.validator_limits()).validate(
        _oru_with_document(600_000, "PDF2")
    )
    assert [(f.rule, f.location()) for f in faults] == [("FIELD_TOO_LONG", "OBX[1]-5")]
    assert "CARELOG_MAX_FIELD_BYTES" in faults[0].text


def test_limit_settings_are_checked() -> None:
    from engine.errors import ConfigError

    env = {"CARELOG_MAX_FRAME_BYTES": "4194304", "CARELOG_MAX_SEGMENT_BYTES": "2097152"}
    assert Settings.from_env(env).validator_limits() == {
        "max_message_len": 4 << 20,
        "max_segment_len": 2 << 20,
        "max_field_len": 4 << 20,
    }
    with pytest.raises(ConfigError, match="CARELOG_MAX_FIELD_BYTES"):
        Settings.from_env({"CARELOG_MAX_FIELD_BYTES": "lots"})
