"""ED to inpatient on every backend: the queue, the visit's read model and the history follow;
a reused control id is refused against the store's copy of the first message."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.bootstrap import Engine, build
from engine.config import Settings
from projections.texts import id_text
from tests.fakes import FakeMessageValidator
from tests.messages import adt
from tests.unit.test_adt_scenarios import PATIENT, VISIT

LATER = datetime(2024, 1, 1, 23, 0, tzinfo=UTC)


def _engine(store_url: str) -> Engine:
    return build(Settings(store=store_url), validator=FakeMessageValidator())


def _queue(engine: Engine, location: str) -> list[str]:
    return [e.visit_number for e in engine.views["queue"].waiting(location, LATER)]


def test_the_admitted_emergency_visit_leaves_the_ed_queue_and_waits_nowhere(store_url: str) -> None:
    """An inpatient ward is not a waiting room (CARELOG_QUEUE_CLASSES defaults to E,O)."""
    engine = _engine(store_url)
    ingest = engine.ingestion.ingest
    ed = adt("A04", "1", patient_class="E", location="ED^^^HOSP", event_time="20240101100000")
    assert ingest(ed, "t").ack_code == "AA"
    engine.runner.catch_up()
    assert (_queue(engine, "ED"), _queue(engine, "WARD1")) == (["V1"], [])

    admit = adt(
        "A01",
        "2",
        location="WARD1^101^A^HOSP",
        prior_location="ED^^^HOSP",
        event_time="20240101150000",
        admit_time="20240101143000",
    )
    assert ingest(admit, "t").ack_code == "AA"
    engine.runner.catch_up()
    assert (_queue(engine, "ED"), _queue(engine, "WARD1")) == ([], [])
    visit = engine.views["queue"].visit(id_text(VISIT))
    assert visit is not None and (visit.location, visit.present) == ("WARD1", False)
    ed_stay = engine.views["queue"].stay(id_text(VISIT), visit.stay_seq)
    assert ed_stay is not None and (ed_stay.location, ed_stay.left_by) == ("ED", "admitted")
    assert ed_stay.wait_seconds == 5 * 3600  # 10:00 to the A01 (EVN-2 15:00)

    record = engine.views["encounters"].encounter(id_text(VISIT))
    assert record is not None
    assert (record.patient_class, record.location.point_of_care) == ("I", "WARD1")
    assert record.admitted_at == datetime(2024, 1, 1, 14, 30, tzinfo=UTC)
    places = [(s.location.point_of_care, s.cause, s.ended_at is None) for s in record.locations]
    assert places == [("ED", "registered", False), ("WARD1", "admitted", True)]

    history = engine.views["history"].history(id_text(PATIENT))
    last = history[-1].entry
    assert last.event_type == "Encounter.InpatientAdmitted"
    assert last.summary == "admitted as inpatient at WARD1^101^A"

    # A late A04 for the ED visit is refused; the visit stays on the ward.
    assert ingest(adt("A04", "3", patient_class="E", location="ED^^^HOSP"), "t").ack_code == "AE"
    engine.runner.catch_up()
    assert (_queue(engine, "ED"), _queue(engine, "WARD1")) == ([], [])
    engine.close()


def test_a_reused_control_id_is_told_apart_from_a_resend_on_the_store(store_url: str) -> None:
    engine = _engine(store_url)
    ingest = engine.ingestion.ingest
    assert ingest(adt("A01", "R1"), "t").ack_code == "AA"
    head = engine.ingestion.recorder.max_notification_id()
    resend = adt("A01", "R1", event_time="20240101120000").replace(
        b"|20240101120000||ADT", b"|20240101121500||ADT", 1
    )
    assert ingest(resend, "t").duplicate
    other = ingest(adt("A03", "R1"), "t")
    assert (other.ack_code, [f.code for f in other.faults]) == ("AE", [205])
    after = engine.ingestion.recorder.select_notifications(head + 1, 10)
    # Only the console's message log took it: no patient or visit changed.
    assert [n.topic.split(":")[0] for n in after] == ["engine.domain.rejected"]
    batch = engine.ingestion.ingest_many([(adt("A01", "R2", visit="V2"), "t"), (resend, "t")])
    assert [o.ack_code for o in batch] == ["AA", "AA"] and batch[1].duplicate
    engine.close()
