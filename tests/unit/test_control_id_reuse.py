"""A used control id (MSH-3/4/10) with other content is not a resend: AE 205, nothing stored."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from engine.application.ingestion import Ingestion
from engine.hl7.resend import resend_digest
from tests.messages import VERSIONS, adt
from tests.unit.test_adt_scenarios import send


def _count(app: Ingestion) -> int:
    return app.recorder.max_notification_id() or 0


@pytest.mark.parametrize("version", VERSIONS)
def test_a_resend_with_a_new_msh7_is_a_duplicate(app: Ingestion, version: str) -> None:
    assert app.ingest(adt("A01", "42", version=version), "t").ack_code == "AA"
    before = _count(app)
    again = adt("A01", "42", version=version).replace(b"|20240101120000||", b"|20240101120500||", 1)
    assert again != adt("A01", "42", version=version)
    outcome = app.ingest(again.replace(b"\r", b"\r\n"), "t")
    assert (outcome.ack_code, outcome.duplicate) == ("AA", True)
    assert _count(app) == before


@pytest.mark.parametrize("version", VERSIONS)
def test_other_content_under_a_used_control_id_is_refused(app: Ingestion, version: str) -> None:
    assert app.ingest(adt("A01", "42", version=version), "t").ack_code == "AA"
    before = _count(app)
    other = adt("A08", "42", version=version, name="DOE^JANET")
    with capture_logs() as logs:
        outcome = app.ingest(other, "t")
    assert outcome.ack_code == "AE"
    assert not outcome.duplicate
    (fault,) = outcome.faults
    assert (fault.code, fault.segment_id, fault.field) == (205, "MSH", 10)
    assert "new MSH-10" in fault.text
    assert _count(app) == before  # nothing applied, nothing stored
    assert app.repository.get(app.ingest(adt("A08", "43"), "t").message_id)  # a new id works
    reused = [e for e in logs if e["event"] == "ingest.control_id_reused"]
    assert reused and "DOE" not in repr(reused)  # traced by ids and hashes, no PHI


def test_the_same_control_id_twice_in_one_batch(app: Ingestion) -> None:
    first, resend, other = adt("A01", "7"), adt("A01", "7"), adt("A01", "7", visit="V9")
    outcomes = app.ingest_many([(first, "t"), (resend, "t"), (other, "t")])
    assert [o.ack_code for o in outcomes] == ["AA", "AA", "AE"]
    assert outcomes[1].duplicate and outcomes[2].faults[0].code == 205


def test_a_refused_message_after_a_stored_one_is_still_told_apart(app: Ingestion) -> None:
    """The path where applying the message again fails (A03 twice) looks at content too."""
    send(app, adt("A01", "1"))
    assert send(app, adt("A03", "2")) == ("AA", ["Encounter.Discharged"])
    assert app.ingest(adt("A03", "2"), "t").ack_code == "AA"  # a true resend
    assert app.ingest(adt("A03", "2", location="ICU^^^HOSP"), "t").ack_code == "AE"


def test_the_digest_ignores_msh7_and_line_endings_only() -> None:
    a = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||X\r"
    assert resend_digest(a) == resend_digest(a.replace("20240101", "20250101"))
    assert resend_digest(a) == resend_digest(a.replace("\r", "\n") + "\n\n")
    assert resend_digest(a) != resend_digest(a.replace("PID|1||X", "PID|1||Y"))
    assert resend_digest(a) != resend_digest(a.replace("ADT^A01", "ADT^A08"))
