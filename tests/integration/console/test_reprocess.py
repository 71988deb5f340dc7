"""Reprocess on every durable store: linked, ordered, idempotent, edits kept apart."""

from __future__ import annotations

from adapters.bootstrap import Engine, build
from adapters.reprocess import pending_in_order, reprocess, reprocess_all
from engine.config import Settings
from engine.domain.rejected import RejectedMessage
from projections.messages import LogFilter
from tests.fakes import FakeMessageValidator
from tests.messages import adt


def _engine(store_url: str) -> Engine:
    return build(Settings(store=store_url), validator=FakeMessageValidator())


def _kw(engine: Engine) -> dict[str, object]:
    return {
        "load": engine.ingestion.current,
        "ingest": engine.ingestion.ingest,
        "log": engine.views["messages"],
    }


def test_a_refused_a02_reprocessed_after_its_a01_applies_once(durable_store_url: str) -> None:
    engine = _engine(durable_store_url)
    log = engine.views["messages"]
    refused = engine.ingestion.ingest(adt("A02", "C2", visit="V9", location="XRAY^1"), "t")
    assert refused.ack_code == "AE"
    entry_id = str(refused.rejected_id)

    # Still refused (the A01 has not come): a new attempt, linked, the original pending.
    first = reprocess(entry_id, "nurse.jo", **_kw(engine))  # type: ignore[arg-type]
    assert first.ack_code == "AE" and first.new_entry and first.new_entry != entry_id
    engine.runner.catch_up()
    attempt = log.entry(first.new_entry)
    assert attempt is not None and attempt.reprocess_of == entry_id
    assert attempt.channel == f"reprocess:{entry_id}:nurse.jo"
    assert [e.entry_id for e in log.search(LogFilter(pending=True))] == [entry_id]

    assert (
        engine.ingestion.ingest(adt("A01", "C1", visit="V9", patient_class="E"), "t").ack_code
        == "AA"
    )
    second = reprocess(entry_id, "nurse.jo", **_kw(engine))  # type: ignore[arg-type]
    assert second.ack_code == "AA" and not second.duplicate
    engine.runner.catch_up()
    head = engine.ingestion.recorder.max_notification_id()
    original = log.entry(entry_id)
    assert original is not None and original.reprocessed_as == second.new_entry
    assert log.causes() == []
    assert [v.visit_number for v in engine.views["queue"].queued("XRAY")] == ["V9"]

    # Twice applies once: skipped by the log, and a duplicate if sent anyway.
    third = reprocess(entry_id, "nurse.jo", **_kw(engine))  # type: ignore[arg-type]
    assert third.skipped
    forced = reprocess(  # type: ignore[arg-type]
        entry_id, "nurse.jo", load=engine.ingestion.current, ingest=engine.ingestion.ingest
    )
    assert forced.ack_code == "AA" and forced.duplicate
    assert engine.ingestion.recorder.max_notification_id() == head
    engine.close()


def test_bulk_reprocess_keeps_the_order_they_arrived_in(durable_store_url: str) -> None:
    engine = _engine(durable_store_url)
    # A02 then A03 of a visit not admitted yet: both refused, in that order.
    a02 = engine.ingestion.ingest(adt("A02", "C2", visit="V5", location="XRAY^1"), "t")
    a03 = engine.ingestion.ingest(adt("A03", "C3", visit="V5", location="XRAY^1"), "t")
    assert (a02.ack_code, a03.ack_code) == ("AE", "AE")
    engine.ingestion.ingest(adt("A01", "C1", visit="V5"), "t")
    engine.runner.catch_up()
    log = engine.views["messages"]
    ids = pending_in_order(log, LogFilter(key_kind="visit", key_value="V5"))
    assert ids == [str(a02.rejected_id), str(a03.rejected_id)]
    attempts = reprocess_all(ids, "ops", **_kw(engine))  # type: ignore[arg-type]
    assert [a.ack_code for a in attempts] == ["AA", "AA"]
    engine.runner.catch_up()
    assert engine.views["queue"].queued("XRAY") == []  # transferred, then discharged
    assert pending_in_order(log, LogFilter()) == []
    engine.close()


def test_edit_and_resend_keeps_the_original_and_records_the_edit(durable_store_url: str) -> None:
    engine = _engine(durable_store_url)
    bad = adt("A02", "C2", visit="V7", location="XRAY^1")
    refused = engine.ingestion.ingest(bad, "t")
    engine.ingestion.ingest(adt("A01", "C1", visit="V8"), "t")
    fixed = bad.replace(b"V7^^^HOSP^VN", b"V8^^^HOSP^VN")
    entry_id = str(refused.rejected_id)
    attempt = reprocess(entry_id, "ops", edited=fixed, **_kw(engine))  # type: ignore[arg-type]
    assert attempt.ack_code == "AA"
    engine.runner.catch_up()
    original = engine.ingestion.current(refused.rejected_id)  # type: ignore[arg-type]
    assert isinstance(original, RejectedMessage) and original.raw.encode() == bad
    new = engine.views["messages"].entry(attempt.new_entry)
    assert new is not None and new.channel == f"edit:{entry_id}:ops"
    assert engine.views["messages"].entry(entry_id).reprocessed_as == attempt.new_entry  # type: ignore[union-attr]
    engine.close()
