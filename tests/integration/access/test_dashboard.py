"""The console's dashboard: the operator scope opens it, and every figure on it is one that
/metrics serves (messages per second by ACK code as an SVG chart, lags, the store's size)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.bootstrap import Engine, build
from adapters.fhir.routes import FhirWrites
from adapters.http.app import create_app
from adapters.metrics import Metrics
from adapters.serving import metrics_of
from adapters.writer import GroupCommitWriter
from engine.config import Settings
from tests import tokens
from tests.asgi import get
from tests.fakes import FakeMessageValidator
from tests.messages import adt


class Console:
    def __init__(self, engine: Engine, writer: GroupCommitWriter, app: Any) -> None:
        self.engine, self.writer, self.app = engine, writer, app


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
    )
    writer = GroupCommitWriter(engine.ingestion.ingest_many)
    metrics = metrics_of(engine, writer)
    app = create_app(
        engine.http_views(),
        health=lambda: {"ready": True},
        metrics=metrics,
        fhir_writes=FhirWrites(engine.ingestion, writer.call, max_bytes=1 << 20),
        access=tokens.access(),
        figures=engine.metrics,
    )
    yield Console(engine, writer, app)
    writer.close()
    engine.close()


def test_the_dashboard_needs_the_operator_scope(console: Console) -> None:
    assert get(console.app, "/console/dashboard", auth=False).status_code == 401
    reader = tokens.bearer("user/*.rs")
    assert get(console.app, "/console/dashboard", headers=reader).status_code == 403
    operator = tokens.bearer("carelog/operator", sub="op")
    assert get(console.app, "/console/dashboard", headers=operator).status_code == 200


def test_the_dashboard_shows_the_figures_metrics_serves(console: Console) -> None:
    engine = console.engine
    for i in range(3):
        outcome = engine.ingestion.ingest(adt("A01", f"C{i}", mrn=f"M{i}", visit=f"V{i}"), "t")
        engine.metrics.observe(outcome.ack_code, 0.002, message_type=outcome.message_type)
    engine.metrics.observe("AE", 0.003)
    operator = tokens.bearer("carelog/operator", sub="op")
    html = get(console.app, "/console/dashboard", headers=operator).text
    text = get(console.app, "/metrics", headers=operator).text

    assert re.search(r'<polyline class="rate" data-ack="AA"[^>]* points="[^"]+"', html)
    assert 'data-ack="AE"' in html
    # Every read model's lag, as /metrics has it (nothing projected yet: all behind).
    head = engine.ingestion.recorder.max_notification_id()
    assert f"carelog_store_head_position {float(head or 0)}" in text
    for name in engine.runner.positions():
        assert f'carelog_projection_lag_events{{read_model="{name}"}} {float(head or 0)}' in text
        assert f"Projection lag: {name}</th><td>{head} events" in html
    size = engine.metrics.value("carelog_store_bytes")
    assert size is not None and size > 0
    assert re.search(r'id="store-size">\d+(\.\d)? (KiB|MiB|B)<', html)
    assert "Messages answered AA (since start)</th><td>3<" in html
    engine.runner.catch_up()
    again = get(console.app, "/console/dashboard", headers=operator).text
    assert "Projection lag: patients_v1</th><td>0 events" in again


def test_each_http_request_is_one_access_line_by_route_template(console: Console) -> None:
    operator = tokens.bearer("carelog/operator", sub="op")
    with capture_logs() as logs:
        get(console.app, "/fhir/Patient/some-patient-id?_format=json", headers=operator)
        get(console.app, "/console/dashboard", headers=operator)
    lines = [e for e in logs if e["event"] == "http.request"]
    assert [(e["route"], e["status"]) for e in lines] == [
        ("/fhir/Patient/{patient_id}", 403),
        ("/console/dashboard", 200),
    ]
    assert lines[1]["principal"] == "op" and lines[1]["method"] == "GET"
    assert "some-patient-id" not in repr(logs) and "_format" not in repr(lines)
    metrics: Metrics = console.engine.metrics
    labels = {"method": "GET", "route": "/fhir/Patient/{patient_id}", "status": "403"}
    assert metrics.value("carelog_http_requests_total", labels) == 1


def test_invented_methods_and_paths_are_not_labels(console: Console) -> None:
    from tests.asgi import request

    request(console.app, "BREW", "/no/such/MRN12345", auth=False)
    samples = console.engine.metrics.samples("carelog_http_requests_total")
    assert [labels for labels, _ in samples] == [
        {"method": "OTHER", "route": "(unmatched)", "status": "401"}
    ]
