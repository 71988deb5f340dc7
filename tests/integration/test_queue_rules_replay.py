"""The queue rules reach every process that builds the queue: a parallel rebuild's spawned
workers apply the parent's rules, so a config change and a rebuild give the new view."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.bootstrap import build
from engine.config import Settings
from projections.catalog import spec_for
from projections.queue import QueueRules, configure_queues
from projections.rebuild import rebuild_sqlite
from tests.fakes import FakeMessageValidator
from tests.messages import adt


def _present(store: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(store) as db:
        rows = db.execute(
            "SELECT location, visit_number FROM queue_visits_v2 WHERE present = 1 ORDER BY 1"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_a_parallel_rebuild_applies_the_rules_of_the_process_that_asked(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    engine = build(Settings(store=f"sqlite:///{store}"), validator=FakeMessageValidator())
    ward = adt("A01", "W1", mrn="M1", visit="W1", location="WARD1^1")  # class I
    clinic = adt("A04", "W2", mrn="M2", visit="W2", location="CLINIC", patient_class="O")
    for m in (ward, clinic):
        assert engine.ingestion.ingest(m, "t").ack_code == "AA"
    engine.runner.catch_up()
    assert _present(store) == [("CLINIC", "W2")]  # the defaults: E and O
    specs = [spec_for("queue"), spec_for("patients")]
    try:
        configure_queues(QueueRules(frozenset({"*"})))  # as `carelog replay` with the new setting
        rebuild_sqlite(engine.ingestion, specs, store, workers=2)
        assert _present(store) == [("CLINIC", "W2"), ("WARD1", "W1")]
        configure_queues(QueueRules(frozenset({"I"})))
        rebuild_sqlite(engine.ingestion, specs, store, workers=2)
        assert _present(store) == [("WARD1", "W1")]
    finally:
        configure_queues(QueueRules())
        engine.close()
