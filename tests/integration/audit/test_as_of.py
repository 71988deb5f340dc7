"""The read models as they were at a past time: separate SQLite files, comparable with ATTACH."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.sqlite import SQLiteFactory

from adapters.bootstrap import build
from engine.config import Settings
from projections.catalog import CATALOG
from projections.history import SQLiteHistoryView
from projections.patients import SQLitePatientView
from projections.rebuild import AS_OF_TABLE, build_sqlite
from projections.replay_feed import AsOf
from projections.timestamps import parse_time
from tests.fakes import FakeMessageValidator
from tests.scenario import ADMIT, CHARGE, DISCHARGE, MERGE, RESULT, SECOND_RECORD, TRANSFER

STEPS = {
    "admitted": (ADMIT,),
    "transferred": (TRANSFER,),
    "discharged": (RESULT, CHARGE, DISCHARGE),
    "merged": (SECOND_RECORD, MERGE),
}


def _views(path: Path) -> tuple[Any, Any]:
    factory = SQLiteFactory(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )
    return factory.tracking_recorder(SQLitePatientView), factory.tracking_recorder(
        SQLiteHistoryView
    )


def _types(events: list[Any]) -> list[str]:
    return [e.entry.event_type for e in events]


def test_the_state_after_admit_transfer_discharge_and_merge(
    durable_store_url: str, tmp_path: Path
) -> None:
    engine = build(Settings(store=durable_store_url), validator=FakeMessageValidator())
    times: dict[str, datetime] = {}
    for step, messages in STEPS.items():
        for message in messages:
            assert engine.ingestion.ingest(message, "test").ack_code == "AA"
        times[step] = datetime.now(UTC)
    engine.runner.catch_up()
    (mrn1,) = engine.patients.find_by_identifier("MRN1", "HOSP")
    live_history = engine.views["history"]

    files = {}
    for step, when in times.items():
        files[step] = tmp_path / f"{step}.db"
        build_sqlite(engine.ingestion, list(CATALOG), files[step], as_of=AsOf(when))

    expected = {
        "admitted": ["Patient.Registered", "Encounter.Admitted"],
        "transferred": ["Patient.Registered", "Encounter.Admitted", "Encounter.Transferred"],
        "discharged": [
            "Patient.Registered",
            "Encounter.Admitted",
            "Encounter.Transferred",
            "LabReport.Reported",
            "Account.Opened",
            "Account.ChargePosted",
            "Encounter.Discharged",
        ],
    }
    for step, types in expected.items():
        patients, history = _views(files[step])
        assert _types(history.history(mrn1.patient_id)) == types, step
        # the live view's own as-of filter agrees with the rebuilt file
        assert live_history.history(mrn1.patient_id, times[step]) == history.history(
            mrn1.patient_id
        )
        assert patients.find_by_identifier("MRN2", "HOSP") == [], step  # not known yet
        patients.datastore.close()
        history.datastore.close()

    patients, history = _views(files["merged"])
    merged = {e.merged_from for e in history.history(mrn1.patient_id)} - {""}
    (retired_id,) = merged
    retired = patients.get_patient(retired_id)
    assert retired.merged_into == mrn1.patient_id
    assert patients.find_by_identifier("MRN2", "HOSP")[0].patient_id == mrn1.patient_id
    assert history.history(mrn1.patient_id) == live_history.history(mrn1.patient_id)
    patients.datastore.close()
    history.datastore.close()

    # Two points in time compared with plain SQL.
    with contextlib.closing(sqlite3.connect(files["admitted"])) as db:
        db.execute("ATTACH DATABASE ? AS later", (str(files["discharged"]),))
        added = db.execute(
            "SELECT event_type FROM later.history_v1 WHERE notification_id NOT IN "
            "(SELECT notification_id FROM main.history_v1) ORDER BY notification_id"
        ).fetchall()
        (row,) = db.execute(f"SELECT as_of, by, head FROM {AS_OF_TABLE}").fetchall()
    assert [t for (t,) in added] == expected["discharged"][2:]
    assert row[0] == times["admitted"].isoformat() and row[1] == "recorded"
    assert row[2] == engine.ingestion.recorder.max_notification_id()
    engine.close()


def test_as_of_by_occurred_reads_the_hl7_time(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    engine = build(Settings(store=store), validator=FakeMessageValidator())
    for messages in STEPS.values():
        for message in messages:
            engine.ingestion.ingest(message, "test")
    engine.runner.catch_up()
    (mrn1,) = engine.patients.find_by_identifier("MRN1", "HOSP")
    noon = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # after the transfer at 10:00, HL7 time
    build_sqlite(
        engine.ingestion, list(CATALOG), tmp_path / "noon.db", as_of=AsOf(noon, "occurred")
    )
    _, history = _views(tmp_path / "noon.db")
    assert _types(history.history(mrn1.patient_id)) == [
        "Patient.Registered",
        "Encounter.Admitted",
        "Encounter.Transferred",
    ]
    history.datastore.close()
    engine.close()


def test_as_of_times() -> None:
    paris = timezone(timedelta(hours=1))
    assert parse_time("2024-01-01", paris) == datetime(2024, 1, 1, 23, 59, 59, 999999, paris)
    assert parse_time("2024-01-01T12:00", paris) == datetime(2024, 1, 1, 12, tzinfo=paris)
    assert parse_time("2024-01-01T12:00:00Z") == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert parse_time("2024-01-01T12:00:00+02:00").utcoffset() == timedelta(hours=2)
    for bad in ("yesterday", "2024-13-01", ""):
        with pytest.raises(ValueError):
            parse_time(bad)
    with pytest.raises(ValueError):
        AsOf(datetime(2024, 1, 1, tzinfo=UTC), "sometime")
