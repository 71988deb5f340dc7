"""SIU appointments of two patients (A and B) on a durable store, and the app over them with
its access layer and access log: the HTTP and access tests' world."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.bootstrap import Engine, build
from adapters.http.app import create_app
from adapters.security.access_log import AccessLog, to_records
from engine.config import Settings
from native.validator import NativeMessageValidator
from tests import tokens
from tests.asgi import get
from tests.messages import adt, siu

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
MESSAGES = (
    siu("S12", "1", appointment="A1", mrn="MRNA", start="20240102090000"),
    siu("S12", "2", appointment="A2", mrn="MRNB", start="20240102100000"),
    siu("S12", "3", appointment="A3", mrn="MRNA", start="20240215080000", location="CLINIC2"),
    siu("S12", "4", appointment="A4", mrn="MRNB", start="20240102110000"),
    siu("S15", "5", appointment="A4", mrn="MRNB"),
    adt("A04", "6", mrn="MRNA", visit="VA", patient_class="O", location="CLINIC1",
        event_time="20240102085500"),
)  # fmt: skip


class World:
    """The engine, its app and access log, the two patients' ids."""

    def __init__(self, engine: Engine, log: AccessLog) -> None:
        self.engine = engine
        self.log = log
        self.app = create_app(
            engine.http_views(),
            health=lambda: {"ready": True},
            now=lambda: NOW,
            access=tokens.access(log),
        )
        (a,) = engine.patients.find_by_identifier("MRNA")
        (b,) = engine.patients.find_by_identifier("MRNB")
        self.a, self.b = a.patient_id, b.patient_id

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return get(self.app, path, headers=headers or tokens.FULL_ACCESS)

    def ids(self, path: str) -> list[str]:
        r = self.get(path)
        assert r.status_code == 200, r.text
        return [e["resource"]["identifier"][-1]["value"] for e in r.json().get("entry", [])]


@pytest.fixture
def appointments_world(durable_store_url: str) -> Iterator[World]:
    """The world on each durable backend (SQLite, PostgreSQL)."""
    engine = build(Settings(store=durable_store_url), validator=NativeMessageValidator())
    for raw in MESSAGES:
        assert engine.ingestion.ingest(raw, "t").ack_code == "AA"
    engine.runner.catch_up()
    log = AccessLog(lambda entries: engine.ingestion.record_access(to_records(entries)))
    yield World(engine, log)
    engine.close()
