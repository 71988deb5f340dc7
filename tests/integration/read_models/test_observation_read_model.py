"""The observation read model on every backend: one row per OBX, corrections, merges, replay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.bootstrap import Engine, build
from engine.config import Settings
from engine.domain.values import Coded
from projections.catalog import spec_for
from projections.merges import merged_group
from projections.observations import MemoryObservationView, ObservationRow, ObservationView
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator
from tests.messages import a40, oru

ANALYSTS = Path(__file__).parents[3] / "docs" / "analysts.md"

CHOLESTEROL = {1: "1", 2: "NM", 3: "2093-3^Cholesterol^LN", 5: "196.0", 6: "mg/dL",
               7: "100-199", 8: "N", 11: "P", 14: "20240101120000"}  # fmt: skip
RESULTS = [
    CHOLESTEROL,
    {1: "2", 2: "ST", 3: "8251-1^Note^LN", 5: "fasting~confirmed", 11: "F"},
    {1: "3", 2: "SN", 3: "2571-8^Triglyceride^LN", 5: ">^150", 6: "mg/dL", 8: "H~A", 11: "F"},
    {1: "4", 2: "CWE", 3: "5778-6^Color^LN", 5: "YEL^Yellow^HL70000", 11: "F"},
    {1: "5", 2: "TX", 3: "11502-2^Report^LN", 5: "line one\\.br\\line two", 11: "F"},
    {1: "6", 2: "SN", 3: "5048-4^ANA titer^LN", 5: "^1^:^128", 11: "X"},
]
CORRECTED = {**CHOLESTEROL, 5: "201.50", 8: "H", 11: "C"}
GLUCOSE = {1: "1", 2: "NM", 3: "2345-7^Glucose^LN", 5: "5.50", 6: "mmol/L", 11: "F"}

OBS_SQL = """SELECT r.order_number, o.code, o.code_text, o.value_numeric, o.units,
       o.abnormal_flags, o.status, o.revision
FROM observations_v1 o JOIN observation_reports_v1 r USING (report_id)
WHERE o.code = '2093-3' AND CAST(o.value_numeric AS NUMERIC) >= 200
ORDER BY r.order_number;"""


def ingest_all(engine: Engine) -> None:
    for raw in (
        oru("L1", RESULTS, status="P"),
        oru("L2", [CORRECTED], status="C"),
        oru("L3", [GLUCOSE], order="FL2", mrn="MRN2"),
    ):
        assert engine.ingestion.ingest(raw, "test").ack_code == "AA"
    engine.runner.catch_up()


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    ingest_all(engine)
    yield engine
    engine.close()


def view_of(engine: Engine) -> ObservationView:
    view: ObservationView = engine.views["observations"]
    return view


def patient(engine: Engine, mrn: str) -> str:
    (record,) = engine.patients.find_by_identifier(mrn)
    return record.patient_id


def rows(engine: Engine, mrn: str) -> list[ObservationRow]:
    view = view_of(engine)
    return view.observations_of(merged_group(patient(engine, mrn), view.merges()))


def test_one_row_per_obx_with_values_as_typed(engine: Engine) -> None:
    chol, note, trig, color, text, titer = rows(engine, "MRN1")
    assert chol.report.order_number == "FL1" and chol.report.service.code == "24331-1"
    assert chol.report.encounter_id and chol.report.patient_id == patient(engine, "MRN1")
    assert chol.code == Coded("2093-3", "Cholesterol", "LN")
    assert note.values == ("fasting", "confirmed") and note.numeric is None
    assert (trig.value_type, trig.comparator, trig.numeric) == ("SN", ">", Decimal(150))
    assert trig.abnormal_flags == ("H", "A") and trig.units == "mg/dL"
    assert color.values == ("YEL^Yellow^HL70000",)
    assert color.coded == Coded("YEL", "Yellow", "HL70000") and chol.coded is None
    assert (titer.sn_num1, titer.sn_separator, titer.sn_num2) == (Decimal(1), ":", Decimal(128))
    assert (trig.sn_num1, trig.sn_separator, trig.sn_num2) == (Decimal(150), "", None)
    assert text.values == ("line one\nline two",)
    assert (titer.values, titer.status) == (("^1^:^128",), "X")
    # no OBX-14: the observation time is the report's OBR-7
    assert note.observed_at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def test_a_correction_replaces_the_observation_in_place(engine: Engine) -> None:
    chol, *others = rows(engine, "MRN1")
    assert chol.numeric == Decimal("201.50") and str(chol.numeric) == "201.50"
    assert (chol.status, chol.abnormal_flags, chol.revision) == ("C", ("H",), 1)
    assert chol.report.status == "C" and chol.reference_range == "100-199"
    assert len(others) == 5 and all(o.revision == 0 for o in others)
    assert chol.source_message_id != others[0].source_message_id


def test_a_merged_patients_results_are_listed_under_the_survivor(engine: Engine) -> None:
    assert [r.code.code for r in rows(engine, "MRN2")] == ["2345-7"]
    retired = patient(engine, "MRN2")
    assert engine.ingestion.ingest(a40("M1", survivor="MRN1", retired="MRN2"), "t").ack_code == "AA"
    engine.runner.catch_up()
    view = view_of(engine)
    assert view.merges() == {retired: patient(engine, "MRN1")}
    survivor_rows = rows(engine, "MRN1")
    assert [r.report.order_number for r in survivor_rows] == ["FL1"] * 6 + ["FL2"]
    assert view.observations_of(merged_group(retired, view.merges())) == survivor_rows


def test_replay_from_zero_equals_live_and_replaying_twice_changes_nothing(engine: Engine) -> None:
    spec = spec_for("observations")
    fresh = MemoryObservationView()
    ids = [patient(engine, "MRN1"), patient(engine, "MRN2")]
    assert PollingProjectionRunner(engine.ingestion, spec.project(fresh)).catch_up() == 3
    assert fresh.observations_of(ids) == view_of(engine).observations_of(ids)
    assert PollingProjectionRunner(engine.ingestion, spec.project(fresh)).catch_up() == 0
    assert fresh.observations_of(ids) == view_of(engine).observations_of(ids)


def test_the_analysts_sql_example_finds_the_corrected_value(durable_store_url: str) -> None:
    assert OBS_SQL in ANALYSTS.read_text()
    engine = build(Settings(store=durable_store_url), validator=FakeMessageValidator())
    try:
        ingest_all(engine)
        with view_of(engine).datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
            c.execute(OBS_SQL.rstrip(";"))
            found = [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in c.fetchall()]
        assert found == [("FL1", "2093-3", "Cholesterol", "201.50", "mg/dL", "H", "C", 1)]
    finally:
        engine.close()
