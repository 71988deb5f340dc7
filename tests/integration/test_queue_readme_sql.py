"""The visit and queue SQL of docs/analysts.md runs on the scenario and says what the API says."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from adapters.bootstrap import build
from engine.config import Settings
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario as s

ANALYSTS = Path(__file__).parents[2] / "docs" / "analysts.md"


def _statements() -> list[str]:
    text = ANALYSTS.read_text()
    section = text[text.index("## Visits and queues") :]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block is not None
    return [st.strip() for st in block.group(1).split(";") if st.strip()]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = tmp_path_factory.mktemp("readme") / "carelog.db"
    engine = build(Settings(store=f"sqlite:///{path}"), validator=FakeMessageValidator())
    for m in s.ALL:
        assert engine.ingestion.ingest(m, "test").ack_code == "AA"
    engine.runner.catch_up()
    engine.close()
    return sqlite3.connect(path)


def _run(db: sqlite3.Connection, statement: str) -> list[tuple[object, ...]]:
    params = {"patient_id": s.patient("M7"), "encounter_id": s.visit("V1")}
    return db.execute(statement, params).fetchall()


def test_every_statement_runs_and_answers(db: sqlite3.Connection) -> None:
    statements = _statements()
    assert len(statements) == 7
    for statement in statements:
        assert _run(db, statement), statement


def test_the_statements_say_what_the_api_says(db: sqlite3.Connection) -> None:
    waiting, waits, hours, visits, places, in_progress, los = (_run(db, st) for st in _statements())
    assert [row[0] for row in waiting] == ["V2", "V6", "V1"]
    assert ("ED", "2024-01-01", 3, 75.0, 85.0) in waits  # 4500 s and 5100 s
    assert hours == [("10", 6)]
    assert [(row[0], row[1]) for row in visits] == [(s.visit("V1"), "V1")]
    assert [(row[1], row[5]) for row in places] == [("ED", None)]
    assert in_progress == [("ED", "E", 3)]  # V1, V2 and V6 (emergency visits)
    ((day, finished, hours),) = los  # V3 80 min, V4 85 min
    assert (day, finished) == ("2024-01-01", 2) and hours == pytest.approx(82.5 / 60, abs=0.01)
