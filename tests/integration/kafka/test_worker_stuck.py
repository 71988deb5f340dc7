"""A worker stuck on an event (its read model raises, the worker retries) says so on its
/health endpoint: which read model, which position and partition, the error's class; and
is 200 again once the event applies. Real broker (reachability), real SQLite read models."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.bootstrap import build, build_view
from adapters.kafka.codec import decode_record, encode_notification
from adapters.kafka.worker import ProjectionApplier
from adapters.kafka.worker_health import WorkerHealth, worker_health_of, worker_metrics
from engine.config import Settings
from projections.catalog import CATALOG
from tests.fakes import FakeMessageValidator
from tests.integration.test_health import wait_until
from tests.messages import adt

pytestmark = pytest.mark.kafka


def test_a_worker_stuck_on_an_event_names_it_until_the_event_applies(
    tmp_path: Path, kafka_servers: str
) -> None:
    source = build(
        Settings(store=f"sqlite:///{tmp_path / 'source.db'}"), validator=FakeMessageValidator()
    )
    outcome = source.ingestion.ingest(adt("A01", "C1", mrn="SECRET1", visit="V1"), "t")
    assert outcome.ack_code == "AA"
    records = []
    for n in source.ingestion.recorder.select_notifications(1, 100):
        value, headers = encode_notification(source.ingestion.name, n)
        records.append((decode_record(value, headers), 3))

    settings = replace(
        Settings(store=f"sqlite:///{tmp_path / 'models.db'}"),
        kafka=kafka_servers,
        health_relay_grace_s=1.0,
    )
    env = settings.eventsourcing_env()
    projections = [spec.project(build_view(spec, settings, env)) for spec in CATALOG]
    patients = next(p for p in projections if p.name == "patients_v1")
    apply = patients.process_event
    bug = {"on": True}

    def buggy(event: Any, tracking: Any) -> None:
        if bug["on"]:
            raise LookupError("SECRET1")  # the text may quote data: only the class is shown
        apply(event, tracking)

    patients.process_event = buggy  # type: ignore[method-assign]  # the bug under test
    applier = ProjectionApplier(source.ingestion.mapper, projections, retry_s=0.05)
    endpoint = WorkerHealth(
        "127.0.0.1:0", worker_health_of(settings, applier), worker_metrics(applier)
    ).start()
    url = f"http://127.0.0.1:{endpoint.port}"
    worker = threading.Thread(target=applier.apply_batch, args=(records,))
    try:
        assert httpx.get(f"{url}/health").status_code == 200
        worker.start()
        assert wait_until(lambda: httpx.get(f"{url}/health").status_code == 503)
        body = httpx.get(f"{url}/health").json()
        [cause] = body["causes"]
        assert cause["cause"] == "projection" and cause["read_model"] == "patients_v1"
        assert cause["error"] == "LookupError" and cause["partition"] == "3"
        assert cause["notification_id"] in {r.notification_id for r, _ in records}
        assert "SECRET1" not in json.dumps(body)
        assert "carelog_worker_stuck 1.0" in httpx.get(f"{url}/metrics").text

        bug["on"] = False  # fixed: the retry applies it, and the worker goes on
        worker.join(30)
        assert not worker.is_alive()
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        bug["on"] = False
        applier.stopping.set()
        if worker.is_alive():
            worker.join(10)
        endpoint.stop()
        source.close()
