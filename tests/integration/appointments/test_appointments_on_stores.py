"""SIU appointments on every backend (memory, SQLite, PostgreSQL), through the native validator:
booked, rescheduled, changed, cancelled, no-show; arrival by A04 or by SIU; the conflicts;
versions 2.3 to 2.8; invalid messages change nothing; the read model rebuilds the same."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from adapters.bootstrap import Engine, build
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier
from engine.hl7.ack import build_ack
from native.validator import NativeMessageValidator
from projections.appointments.view import AppointmentCriteria
from projections.catalog import spec_for
from projections.timestamps import to_text
from tests.messages import VERSIONS, adt, siu

DAY = (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))


def _engine(store_url: str) -> Engine:
    return build(Settings(store=store_url), validator=NativeMessageValidator())


def _expected(engine: Engine, location: str = "CLINIC1") -> list[tuple[str, str, str]]:
    engine.runner.catch_up()
    rows = engine.views["appointments"].expected(location, *DAY)
    return [(r.filler_id, r.status, r.start.isoformat() if r.start else "") for r in rows]


def _ack(engine: Engine, raw: bytes) -> tuple[str, list[int]]:
    outcome = engine.ingestion.ingest(raw, "t")
    return outcome.ack_code, [f.code for f in outcome.faults]


def test_book_reschedule_cancel_and_no_show(store_url: str) -> None:
    engine = _engine(store_url)
    assert _ack(engine, siu("S12", "1")) == ("AA", [])
    assert _ack(engine, siu("S12", "2", appointment="A200", start="20240102110000")) == ("AA", [])
    assert _expected(engine) == [
        ("A100^SCHED", "booked", "2024-01-02T09:00:00+00:00"),
        ("A200^SCHED", "booked", "2024-01-02T11:00:00+00:00"),
    ]
    assert _ack(engine, siu("S13", "3", start="20240102140000")) == ("AA", [])
    assert [r[0] for r in _expected(engine)] == ["A200^SCHED", "A100^SCHED"]
    assert _ack(engine, siu("S15", "4", appointment="A200")) == ("AA", [])
    assert _expected(engine) == [("A100^SCHED", "booked", "2024-01-02T14:00:00+00:00")]
    assert _ack(engine, siu("S26", "5")) == ("AA", [])
    assert _expected(engine) == [("A100^SCHED", "noshow", "2024-01-02T14:00:00+00:00")]
    engine.close()


def test_the_conflicts_are_refused_and_change_nothing(store_url: str) -> None:
    engine = _engine(store_url)
    assert _ack(engine, siu("S13", "1", appointment="GHOST")) == ("AE", [204])
    assert _ack(engine, siu("S12", "2")) == ("AA", [])
    assert _ack(engine, siu("S15", "3")) == ("AA", [])
    head = engine.ingestion.recorder.max_notification_id()
    assert _ack(engine, siu("S15", "4")) == ("AA", [])  # cancelled twice: nothing changes
    assert _ack(engine, siu("S13", "5", start="20240103090000")) == ("AE", [207])
    assert _ack(engine, siu("S26", "6")) == ("AE", [207])
    assert _ack(engine, siu("S12", "7", mrn="MRN2")) == ("AE", [207])
    after = engine.ingestion.recorder.select_notifications((head or 0) + 1, 50)
    kinds = {n.topic.split(":")[0] for n in after}
    assert kinds <= {"engine.domain.rejected", "engine.domain.message"}  # no appointment event
    assert _expected(engine) == []
    engine.close()


def test_an_a04_at_the_booked_location_that_day_is_the_arrival(store_url: str) -> None:
    engine = _engine(store_url)
    assert _ack(engine, siu("S12", "1")) == ("AA", [])
    # Another location, then another day: no arrival.
    other = adt("A04", "2", patient_class="O", location="CLINIC2", event_time="20240102083000")
    assert _ack(engine, other) == ("AA", [])
    assert _expected(engine)[0][1] == "booked"
    came = adt(
        "A04", "3", visit="V9", patient_class="O", location="CLINIC1", event_time="20240102085000"
    )
    assert _ack(engine, came) == ("AA", [])
    assert _expected(engine)[0][1] == "arrived"
    row = engine.views["appointments"].expected("CLINIC1", *DAY)[0]
    waiting = engine.views["queue"].waiting("CLINIC1", datetime(2024, 1, 2, 9, tzinfo=UTC))
    assert [e.encounter_id for e in waiting] == [row.encounter_id]
    assert row.arrived_at == datetime(2024, 1, 2, 8, 50, tzinfo=UTC)
    discharge = adt("A03", "4", visit="V9", patient_class="O", location="CLINIC1")
    assert _ack(engine, discharge) == ("AA", [])
    assert _expected(engine)[0][1] == "fulfilled"
    engine.close()


def test_a_pre_admitted_visit_arriving_at_the_booked_location_is_the_arrival(
    store_url: str,
) -> None:
    engine = _engine(store_url)
    assert _ack(engine, siu("S12", "1")) == ("AA", [])
    planned = adt(
        "A05", "2", visit="V7", patient_class="O", location="CLINIC1", event_time="20231220100000"
    )
    assert _ack(engine, planned) == ("AA", [])
    assert _expected(engine)[0][1] == "booked"  # planned weeks ahead: nobody has arrived
    came = adt(
        "A04", "3", visit="V7", patient_class="O", location="CLINIC1", event_time="20240102084000"
    )
    assert _ack(engine, came) == ("AA", [])
    assert _expected(engine)[0][1] == "arrived"
    row = engine.views["appointments"].expected("CLINIC1", *DAY)[0]
    assert row.encounter_id == engine.views["encounters"].visits_numbered("V7")[0].encounter_id
    assert row.arrived_at == datetime(2024, 1, 2, 8, 40, tzinfo=UTC)
    engine.close()


def test_an_siu_arrival_starts_the_waiting_visit(store_url: str) -> None:
    engine = _engine(store_url)
    assert _ack(engine, siu("S12", "1")) == ("AA", [])
    pv1 = {1: "1", 2: "O", 19: "V77^^^HOSP^VN"}
    assert _ack(engine, siu("S14", "2", status="Started", pv1=pv1)) == ("AA", [])
    assert _expected(engine)[0][1] == "arrived"
    waiting = engine.views["queue"].waiting("CLINIC1", datetime(2024, 1, 2, 9, tzinfo=UTC))
    assert [e.visit_number for e in waiting] == ["V77"]
    row = engine.views["appointments"].expected("CLINIC1", *DAY)[0]
    assert row.encounter_id == waiting[0].encounter_id
    # The same status again starts no second visit.
    assert _ack(engine, siu("S14", "3", status="Started", pv1=pv1, duration="45")) == ("AA", [])
    engine.runner.catch_up()
    waiting = engine.views["queue"].waiting("CLINIC1", datetime(2024, 1, 2, 9, tzinfo=UTC))
    assert len(waiting) == 1
    engine.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_books_and_reschedules(version: str, durable_store_url: str) -> None:
    engine = _engine(durable_store_url)
    assert _ack(engine, siu("S12", "1", version=version)) == ("AA", [])
    assert _ack(engine, siu("S13", "2", version=version, start="20240102101500")) == ("AA", [])
    assert _expected(engine) == [("A100^SCHED", "booked", "2024-01-02T10:15:00+00:00")]
    row = engine.views["appointments"].expected("CLINIC1", *DAY)[0]
    assert (row.duration_minutes, row.location_text) == (30, "CLINIC1^^^HOSP")
    engine.close()


@pytest.mark.parametrize(
    ("raw", "code", "ack"),
    [
        (siu("S12", "1", start="2024010299"), 102, "AE"),  # not a date (TQ1-7)
        (siu("S12", "1", start="2024010299", version="2.4"), 102, "AE"),  # SCH-11.4
        (siu("S12", "1", appointment="", placer=""), 101, "AE"),
        (siu("S12", "1", pid=False), 101, "AE"),
        (siu("S12", "1", start=""), 101, "AE"),
        (siu("S12", "1").replace(b"RGS|1|A\r", b""), 100, "AE"),
        (siu("S12", "1").replace(b"SIU^S12", b"SIU^S99"), 201, "AR"),
    ],
)
def test_an_invalid_siu_is_answered_with_err_and_changes_nothing(
    raw: bytes, code: int, ack: str, durable_store_url: str
) -> None:
    engine = _engine(durable_store_url)
    outcome = engine.ingestion.ingest(raw, "t")
    assert outcome.ack_code == ack
    assert code in [f.code for f in outcome.faults]
    assert outcome.message is not None
    answer = build_ack(outcome.message, ack, faults=outcome.faults, now=DAY[0])
    err = [s for s in answer.split(b"\r") if s.startswith(b"ERR|")]
    assert err and all(f"|{code}^".encode() in e or b"SCH" in e or b"TQ1" in e for e in err[:1])
    engine.runner.catch_up()
    assert engine.views["appointments"].search(AppointmentCriteria(), 10) == []
    assert engine.views["patients"].get_patient(_patient_id()) is None
    engine.close()


def test_the_read_model_rebuilds_the_same(durable_store_url: str) -> None:
    engine = _engine(durable_store_url)
    for raw in (
        siu("S12", "1"),
        siu("S12", "2", appointment="A2", start="20240102120000"),
        siu("S13", "3", start="20240102130000"),
        siu("S15", "4", appointment="A2"),
        adt("A04", "5", patient_class="O", location="CLINIC1", event_time="20240102125000"),
    ):
        assert _ack(engine, raw) == ("AA", [])
    before = _expected(engine)
    assert [s for _, s, _ in before] == ["arrived"]
    view = engine.views["appointments"]
    spec = spec_for("appointments")
    assert spec.tables == ("appointment_merges_v1", "appointments_v1")
    fresh = spec.memory()
    projection = spec.project(fresh)
    for n in engine.ingestion.recorder.select_notifications(1, 1000):
        projection.process_event(engine.ingestion.mapper.to_domain_event(n), _tracking(n.id))
    assert [(r.filler_id, r.status) for r in fresh.expected("CLINIC1", *DAY)] == [
        (r.filler_id, r.status) for r in view.expected("CLINIC1", *DAY)
    ]
    engine.close()


def _tracking(position: int) -> Tracking:
    return Tracking("carelog", position)


def _patient_id() -> str:
    return str(patient_id_for(Identifier("MRN1", "HOSP", "MR")))


def test_the_analysts_sql_runs_and_agrees_with_the_api(tmp_path: Path) -> None:
    path = tmp_path / "carelog.db"
    engine = _engine(f"sqlite:///{path}")
    for raw in (
        siu("S12", "1"),
        siu("S12", "2", appointment="A2", mrn="MRN2", start="20240102100000"),
        siu("S26", "3", appointment="A2", mrn="MRN2"),
        adt("A04", "4", patient_class="O", location="CLINIC1", event_time="20240102084500"),
    ):
        assert _ack(engine, raw) == ("AA", [])
    api = _expected(engine)
    engine.close()
    text = (Path(__file__).parents[3] / "docs" / "analysts.md").read_text()
    section = text[text.index("## Appointments (`appointments_v1`)") :]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block is not None
    today, noshow, early = [s for s in block.group(1).split(";") if s.strip()]
    db = sqlite3.connect(path)
    rows = db.execute(today).fetchall()
    assert [(r[0][:19], r[2]) for r in rows] == [(s[:19], st) for _, st, s in api]
    assert db.execute(noshow).fetchall() == [("CLINIC1", "2024-01", 2, 50.0)]
    assert db.execute(early).fetchall() == [("CLINIC1", 15.0)]


def test_search_reads_the_rows_after_and_before_a_cursor(store_url: str) -> None:
    engine = _engine(store_url)
    starts = ("20240102080000", "20240102090000", "20240102090000", "20240102100000")
    for n, start in enumerate(starts):
        raw = siu("S12", str(n), appointment=f"K{n}", start=start)
        assert _ack(engine, raw) == ("AA", [])
    engine.runner.catch_up()
    view = engine.views["appointments"]
    rows = view.search(AppointmentCriteria(), 10)
    keys = [(to_text(r.start), r.appointment_id) for r in rows]
    assert keys == sorted(keys) and len(rows) == 4  # by start, ties (K1, K2) by id
    after = view.search(AppointmentCriteria(after=keys[1]), 2)
    assert [r.appointment_id for r in after] == [k for _, k in keys[2:4]]
    before = view.search(AppointmentCriteria(before=keys[3]), 2)
    assert [r.appointment_id for r in before] == [k for _, k in keys[1:3]]  # nearest, in order
    assert view.search(AppointmentCriteria(before=keys[0]), 2) == []
    engine.close()
