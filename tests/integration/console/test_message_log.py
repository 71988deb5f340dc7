"""The message log on every backend: accepted and refused messages, found by their keys."""

from __future__ import annotations

from adapters.bootstrap import Engine, build
from engine.config import Settings
from engine.domain.rejected import RejectedMessage
from projections.messages import LogFilter, business_keys
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario as s
from tests.messages import adt


def _engine(store_url: str) -> Engine:
    return build(Settings(store=store_url), validator=FakeMessageValidator())


def test_a_refused_a02_is_logged_apart_and_found_by_its_visit_number(store_url: str) -> None:
    engine = _engine(store_url)
    log = engine.views["messages"]
    early = adt("A02", "C2", mrn="M9", visit="V9", location="XRAY^1^A^HOSP")
    refused = engine.ingestion.ingest(early, "mllp:10.0.0.7:5555")
    assert refused.ack_code == "AE"
    assert refused.rejected_id is not None
    engine.runner.catch_up()

    # It changed no patient or visit: those read models never saw it.
    assert engine.views["patients"].find_by_identifier("M9") == []
    assert engine.views["queue"].waiting("XRAY", s.NOON) == []

    [entry] = log.search(LogFilter(key_kind="visit", key_value="V9"))
    assert (entry.accepted, entry.ack_code, entry.message_type) == (False, "AE", "ADT^A02")
    assert entry.control_id == "C2" and entry.sender == "HIS"
    assert entry.channel == "mllp:10.0.0.7:5555"
    assert entry.cause == "UNKNOWNVISIT PV1-19"
    assert entry.entry_id == str(refused.rejected_id)
    stored = engine.ingestion.repository.get(refused.rejected_id)
    assert isinstance(stored, RejectedMessage)
    assert stored.raw.encode() == early
    [fault] = stored.faults
    assert (fault["segment_id"], fault["field"], fault["code"]) == ("PV1", 19, 204)
    assert log.causes() == [("UNKNOWNVISIT PV1-19", 1)]

    accepted = engine.ingestion.ingest(adt("A01", "C1", mrn="M9", visit="V9"), "test")
    assert accepted.ack_code == "AA" and accepted.rejected_id is None
    engine.runner.catch_up()
    found = log.search(LogFilter(key_kind="mrn", key_value="M9"))
    assert [(e.control_id, e.ack_code) for e in found] == [("C1", "AA"), ("C2", "AE")]
    assert [e.control_id for e in log.search(LogFilter(ack_code="AE"))] == ["C2"]
    assert [e.control_id for e in log.search(LogFilter(message_type="ADT^A01"))] == ["C1"]
    assert len(log.search(LogFilter(message_type="ADT"))) == 2
    assert log.search(LogFilter(message_type="ORU")) == []
    assert [e.control_id for e in log.search(LogFilter(control_id="C1"))] == ["C1"]
    assert log.search(LogFilter(key_kind="visit", key_value="V8")) == []
    engine.close()


def test_an_unreadable_message_is_logged_with_no_header(store_url: str) -> None:
    engine = _engine(store_url)
    outcome = engine.ingestion.ingest(b"garbage that is no HL7", "test")
    assert outcome.ack_code == "AR" and outcome.rejected_id is not None
    engine.runner.catch_up()
    [entry] = engine.views["messages"].search(LogFilter(ack_code="AR"))
    assert (entry.message_type, entry.control_id, entry.accepted) == ("", "", False)
    engine.close()


def test_retention_forgets_old_entries(store_url: str) -> None:
    engine = _engine(store_url)
    engine.ingestion.ingest(adt("A01", "C1"), "test")
    engine.runner.catch_up()
    log = engine.views["messages"]
    [entry] = log.search(LogFilter())
    assert log.forget_before(entry.received_at) == 0
    assert log.forget_before(entry.received_at.replace(year=entry.received_at.year + 1)) == 1
    assert log.search(LogFilter()) == []
    assert log.search(LogFilter(key_kind="mrn", key_value="MRN1")) == []
    engine.close()


def test_business_keys_read_every_identifier_a_message_names() -> None:
    raw = adt("A01", "C1", mrn="M1~M2^^^OTHER^MR", visit="V1").decode()
    keys = business_keys(raw)
    assert ("mrn", "M1") in keys and ("mrn", "M2") in keys and ("visit", "V1") in keys
    assert business_keys("not hl7") == []
