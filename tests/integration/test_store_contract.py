"""Ingestion and the patient index on every store backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import threading

from adapters.bootstrap import Engine, build
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier
from projections.patients import PatientProjection
from projections.runner import PollingProjectionRunner
from tests.conftest import sample
from tests.fakes import FakeMessageValidator

PATIENT = str(patient_id_for(Identifier("123456", "HOSP", "MR")))


def engine_for(store: str) -> Engine:
    return build(Settings(store=store), validator=FakeMessageValidator())


def test_events_and_index_survive_reopening_the_store(durable_store_url: str) -> None:
    engine = engine_for(durable_store_url)
    outcome = engine.ingestion.ingest(sample("adt_a01.hl7"), "test")
    assert outcome.ack_code == "AA" and outcome.events_written == 3
    engine.runner.catch_up()
    engine.close()

    reopened = engine_for(durable_store_url)
    record = reopened.patients.get_patient(PATIENT)
    assert record is not None and record.name.given == "JANE"
    assert [i.value for i in record.identifiers] == ["123456", "987-65-4321"]
    assert reopened.ingestion.ingest(sample("adt_a01.hl7"), "test").duplicate
    assert reopened.runner.catch_up() == 0
    reopened.close()


def test_index_follows_updates_and_applies_each_event_once(store_url: str) -> None:
    engine = engine_for(store_url)
    raw = sample("adt_a01.hl7")
    engine.ingestion.ingest(raw, "test")
    changed = raw.replace(b"MSG00001", b"MSG00002").replace(b"DOE^JANE^Q", b"DOE-SMITH^JANE^Q")
    changed = changed.replace(b"~987-65-4321^^^SSA^SS", b"~987-65-4321^^^SSA^SS~X9^^^CLINIC^PI")
    assert engine.ingestion.ingest(changed, "test").ack_code == "AA"
    # The patient index alone (other read models count their own events).
    patients_only = PollingProjectionRunner(engine.ingestion, PatientProjection(engine.patients))
    assert patients_only.catch_up() == 3  # registered, identifier added, demographics updated
    record = engine.patients.get_patient(PATIENT)
    assert record is not None
    assert record.name.family == "DOE-SMITH"
    assert {i.value for i in record.identifiers} == {"123456", "987-65-4321", "X9"}
    assert engine.patients.find_by_identifier("X9", "CLINIC") == [record]
    # A second runner over the same view (as after a crash) applies nothing twice.
    again = PollingProjectionRunner(engine.ingestion, PatientProjection(engine.patients))
    assert again.catch_up() == 0
    assert len(engine.patients.find_by_identifier("123456")) == 1
    engine.close()


def test_concurrent_ingest_of_the_same_patient_stays_consistent(store_url: str) -> None:
    engine = engine_for(store_url)
    base = sample("adt_a01.hl7")
    results: list[str] = []

    def send(n: int) -> None:
        msg = base.replace(b"MSG00001", b"MSG%05d" % n).replace(b"V0001", b"V%04d" % n)
        results.append(engine.ingestion.ingest(msg, "t").ack_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["AA"] * 8
    topics = [
        n.topic.rsplit(":", 1)[1] for n in engine.ingestion.recorder.select_notifications(1, 100)
    ]
    assert topics.count("Patient.Registered") == 1
    assert topics.count("Encounter.Admitted") == 8
    assert topics.count("InboundMessage.Received") == 8
    engine.close()


def test_merged_patient_points_to_the_survivor(store_url: str) -> None:
    from tests.messages import adt

    engine = engine_for(store_url)
    engine.ingestion.ingest(adt("A04", "1", mrn="KEEP", visit="V1"), "t")
    engine.ingestion.ingest(adt("A04", "2", mrn="GONE", visit="V2"), "t")
    merge = (
        b"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|20240102||ADT^A40^ADT_A39|3|P|2.5\r"
        b"EVN|A40|20240102\rPID|1||KEEP^^^HOSP^MR||DOE^JANE\rMRG|GONE^^^HOSP^MR\r"
    )
    assert engine.ingestion.ingest(merge, "t").ack_code == "AA"
    engine.runner.catch_up()
    keep = str(patient_id_for(Identifier("KEEP", "HOSP", "MR")))
    gone = str(patient_id_for(Identifier("GONE", "HOSP", "MR")))
    assert [r.patient_id for r in engine.patients.find_by_identifier("GONE", "HOSP")] == [keep]
    retired = engine.patients.get_patient(gone)
    assert retired is not None and retired.merged_into == keep

    from adapters.http.fhir_patient import patient_resource

    resource = patient_resource(retired)
    assert resource["active"] is False
    assert resource["link"] == [{"other": {"reference": f"Patient/{keep}"}, "type": "replaced-by"}]
    engine.close()
