"""An engine on a real SQLite store with two patients (A and B), and the app over it with its
access layer and access log (flushed by the tests, not by a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import Engine, build
from adapters.http.app import create_app
from adapters.security.access_log import AccessLog, to_records
from engine.application.versions import AggregateVersions
from engine.config import Settings
from projections.access import AccessLogView, AccessRow
from tests import tokens
from tests.fakes import FakeMessageValidator
from tests.integration.read_models.billing_scenario import ft1
from tests.messages import adt, dft, oru

GLUCOSE = {1: "1", 2: "NM", 3: "2345-7^Glucose^LN", 5: "5.50", 6: "mmol/L", 11: "F"}
MESSAGES = (
    adt("A01", "AA1", mrn="MRNA", patient_class="E", location="ED^1^A^HOSP", visit="VA"),
    adt("A01", "AB1", mrn="MRNB", patient_class="E", location="ED^2^A^HOSP", visit="VB"),
    dft("DA1", [ft1("T1", "CG", "99213^Visit^CPT", "1", "10.00&USD", "20240101")],
        account="ACCA", visit="VA", mrn="MRNA"),
    dft("DB1", [ft1("T2", "CG", "99213^Visit^CPT", "1", "20.00&USD", "20240101")],
        account="ACCB", visit="VB", mrn="MRNB"),
    oru("LA1", [GLUCOSE], order="FLA", mrn="MRNA"),
    oru("LB1", [GLUCOSE], order="FLB", mrn="MRNB"),
)  # fmt: skip


@dataclass
class World:
    """The engine, its app, the access log and the two patients' ids."""

    engine: Engine
    app: Any
    log: AccessLog
    view: AccessLogView
    a: str
    b: str
    encounter_a: str
    encounter_b: str

    def records(self) -> list[AccessRow]:
        """Every access record stored so far (after flushing the buffer), oldest first."""
        self.log.flush()
        return self.view.rows()

    def records_after(self, position: int) -> list[AccessRow]:
        return [r for r in self.records() if r.position > position]

    def head(self) -> int:
        self.log.flush()
        return int(self.engine.ingestion.recorder.max_notification_id() or 0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = tmp_path_factory.mktemp("access") / "carelog.db"
    engine = build(Settings(store=f"sqlite:///{store}"), validator=FakeMessageValidator())
    for raw in MESSAGES:
        assert engine.ingestion.ingest(raw, "test").ack_code == "AA"
    engine.runner.catch_up()
    log = AccessLog(lambda entries: engine.ingestion.record_access(to_records(entries)))
    app = create_app(
        engine.http_views(),
        health=lambda: {"ready": True},
        access=tokens.access(log),
        versions=AggregateVersions(engine.ingestion),
    )
    (a,) = engine.patients.find_by_identifier("MRNA")
    (b,) = engine.patients.find_by_identifier("MRNB")
    encounters = engine.views["encounters"]
    (va,) = encounters.visits(a.patient_id, ())
    (vb,) = encounters.visits(b.patient_id, ())
    yield World(
        engine, app, log, engine.access_view, a.patient_id, b.patient_id,
        va.encounter_id, vb.encounter_id,
    )  # fmt: skip
    engine.close()


def sqlite_path(world: World) -> Path:
    return world.engine.settings.sqlite_path()
