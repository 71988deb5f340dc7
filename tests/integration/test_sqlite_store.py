"""The ingestion service and the patient index on a real SQLite file."""

from __future__ import annotations

import threading
from pathlib import Path

from adapters.bootstrap import build
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier
from tests.conftest import sample
from tests.fakes import FakeMessageValidator


def settings_for(tmp_path: Path) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'sub' / 'carelog.db'}")


def test_events_and_index_survive_reopening_the_file(tmp_path: Path) -> None:
    engine = build(settings_for(tmp_path), validator=FakeMessageValidator())
    outcome = engine.ingestion.ingest(sample("adt_a01.hl7"), "test")
    assert outcome.ack_code == "AA" and outcome.last_notification_id == 3
    engine.runner.catch_up()
    engine.close()

    reopened = build(settings_for(tmp_path), validator=FakeMessageValidator())
    record = reopened.patients.get_patient(str(patient_id_for(Identifier("123456", "HOSP", "MR"))))
    assert record is not None and record.name.given == "JANE"
    assert reopened.ingestion.ingest(sample("adt_a01.hl7"), "test").duplicate
    assert reopened.runner.catch_up() == 0
    reopened.close()


def test_projection_rows_and_position_commit_together(tmp_path: Path) -> None:
    engine = build(settings_for(tmp_path), validator=FakeMessageValidator())
    engine.ingestion.ingest(sample("adt_a01.hl7"), "test")
    engine.runner.catch_up()
    position = engine.patients.max_tracking_id("carelog")
    assert position == 2  # Patient.Registered was notification 2
    # A second runner (say, after a crash before it noticed the first) applies nothing twice.
    from projections.patients import PatientProjection
    from projections.runner import PollingProjectionRunner

    again = PollingProjectionRunner(engine.ingestion, PatientProjection(engine.patients))
    assert again.catch_up() == 0
    assert len(engine.patients.find_by_identifier("123456")) == 1
    engine.close()


def test_concurrent_ingest_of_the_same_patient_stays_consistent(tmp_path: Path) -> None:
    engine = build(settings_for(tmp_path), validator=FakeMessageValidator())
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
