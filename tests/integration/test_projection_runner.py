"""The polling runner with several projections, and per-projection tracking on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteFactory

from adapters.bootstrap import build
from engine.config import Settings
from engine.domain.values import PersonName
from projections.catalog import CATALOG, spec_for
from projections.patients import MemoryPatientView, PatientProjection
from projections.runner import PollingProjectionRunner
from projections.tracking import SQLiteProjectionTracking
from tests.conftest import sample
from tests.fakes import FakeMessageValidator


class OtherView(SQLiteProjectionTracking):
    """Only a position, under another projection's name, in the same database file."""

    tracking_table = "other_v1_tracking"


class OtherPatientProjection(PatientProjection):
    name = "other_v1"


def test_each_sqlite_projection_keeps_its_own_position(tmp_path: Path) -> None:
    db = tmp_path / "carelog.db"
    engine = build(Settings(store=f"sqlite:///{db}"), validator=FakeMessageValidator())
    engine.ingestion.ingest(sample("adt_a01.hl7"), "test")
    engine.runner.catch_up()
    position = engine.patients.max_tracking_id("carelog")
    assert position

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)}
    other = SQLiteFactory(env).tracking_recorder(OtherView)
    assert other.max_tracking_id("carelog") is None  # not the patient index's position
    other.insert_tracking(Tracking("carelog", 1))
    assert other.max_tracking_id("carelog") == 1
    assert engine.patients.max_tracking_id("carelog") == position
    with pytest.raises(IntegrityError):  # each table still refuses a position twice
        other.insert_tracking(Tracking("carelog", 1))
    other.datastore.close()
    engine.close()


def test_one_runner_feeds_each_projection_from_its_own_position(tmp_path: Path) -> None:
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
    )
    engine.ingestion.ingest(sample("adt_a01.hl7"), "test")
    assert PollingProjectionRunner(engine.ingestion, PatientProjection(engine.patients)).catch_up()
    head = engine.ingestion.recorder.max_notification_id()

    late = MemoryPatientView()  # a read model added after the first one had caught up
    runner = PollingProjectionRunner(
        engine.ingestion, PatientProjection(engine.patients), OtherPatientProjection(late)
    )
    assert runner.catch_up() == 1  # Patient.Registered, applied to the late one only
    (record,) = late.find_by_identifier("123456")
    assert record == engine.patients.find_by_identifier("123456")[0]
    assert runner.positions() == {"patients_v1": head, "other_v1": head}
    assert runner.catch_up() == 0
    engine.close()


def test_the_catalog_names_each_read_model_once() -> None:
    keys = [s.key for s in CATALOG]
    names = [s.name for s in CATALOG]
    assert len(set(keys)) == len(keys) and len(set(names)) == len(names)
    assert spec_for("patients") is spec_for("patients_v1")
    for spec in CATALOG:
        tracking = getattr(spec.sqlite, "tracking_table", "")
        assert tracking == f"{spec.name}_tracking", spec.key


def test_a_failed_batch_leaves_neither_rows_nor_position(tmp_path: Path) -> None:
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
    )
    view = engine.patients
    name = PersonName(family="DOE", given="JANE")
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(RuntimeError), view.batch():
        view.register_patient("p1", (), name, "", "F", when, Tracking("carelog", 1))
        view.register_patient("p2", (), name, "", "F", when, Tracking("carelog", 2))
        raise RuntimeError("crash between the rows and the next position")
    assert view.get_patient("p1") is None and view.max_tracking_id("carelog") is None
    with view.batch():
        view.register_patient("p1", (), name, "", "F", when, Tracking("carelog", 1))
        view.register_patient("p2", (), name, "", "F", when, Tracking("carelog", 2))
    assert view.get_patient("p2") is not None and view.max_tracking_id("carelog") == 2
    with pytest.raises(IntegrityError):  # applied once, never twice
        view.register_patient("p2", (), name, "", "F", when, Tracking("carelog", 2))
    engine.close()
