"""`carelog worker --health-port`: a real worker process answers /health 503 naming why it
cannot apply (its broker gone past the grace, its store read-only) and 200 once it can again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.test_scale_out import services
from tests.e2e.workers import WorkerProcess
from tests.integration.test_health import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def worker(postgres_url: str, kafka_servers: str) -> Iterator[WorkerProcess]:
    env = {
        "CARELOG_WORKER_HEALTH": "127.0.0.1:0",  # a free port, named in worker.health_listening
        "CARELOG_HEALTH_RELAY_GRACE": "1",
        "CARELOG_KAFKA_TOPIC": f"carelog-health-{uuid.uuid4().hex[:8]}",
        "CARELOG_KAFKA_GROUP": f"carelog-health-{uuid.uuid4().hex[:8]}",
    }
    proc = WorkerProcess(postgres_url, kafka_servers, env).start()
    yield proc
    proc.stop()


def health(worker: WorkerProcess) -> tuple[int, dict[str, Any]]:
    [listening] = worker.events("worker.health_listening")
    assert listening["host"] == "127.0.0.1"
    r = httpx.get(f"http://127.0.0.1:{listening['port']}/health", timeout=10)
    return r.status_code, r.json()


def test_the_worker_health_endpoint_is_red_while_the_broker_is_down(worker: WorkerProcess) -> None:
    assert wait_until(lambda: health(worker)[0] == 200, 30), health(worker)
    services("stop-kafka")
    try:
        assert wait_until(lambda: health(worker)[0] == 503, 60), health(worker)
        [cause] = health(worker)[1]["causes"]
        assert cause["cause"] == "broker" and cause["error"], cause
    finally:
        services("start-kafka")
    assert wait_until(lambda: health(worker)[0] == 200, 60), health(worker)
    [listening] = worker.events("worker.health_listening")
    text = httpx.get(f"http://127.0.0.1:{listening['port']}/metrics", timeout=10).text
    assert "carelog_worker_applied_total" in text and "carelog_worker_stuck 0.0" in text


def test_the_worker_health_endpoint_is_red_while_its_store_is_read_only(
    worker: WorkerProcess, postgres_url: str
) -> None:
    def read_only(on: bool) -> None:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            if on:
                conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            else:
                conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("SELECT pg_reload_conf()")

    assert wait_until(lambda: health(worker)[0] == 200, 30), health(worker)
    try:
        read_only(True)
        assert wait_until(lambda: health(worker)[0] == 503, 30), health(worker)
        [cause] = health(worker)[1]["causes"]
        assert cause["cause"] == "store" and cause["error"] == "StoreReadOnly", cause
    finally:
        read_only(False)
    assert wait_until(lambda: health(worker)[0] == 200, 30), health(worker)
