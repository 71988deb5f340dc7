"""ADT over a real MLLP socket puts patients in a queue that `carelog serve` answers over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.mllp.client import MLLPClient, ack_code_of
from tests.e2e.server import ServeProcess
from tests.integration import visit_scenario as s
from tests.messages import adt

pytestmark = [pytest.mark.e2e, pytest.mark.native]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(f"sqlite:///{tmp_path / 'carelog.db'}").start()
    yield proc
    proc.kill()


def _queue(
    base_url: str, location: str, count: int, timeout: float = 10.0, *, headers: dict[str, str]
) -> dict[str, Any]:
    """Polls the queue: the read model trails the ACK by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{base_url}/api/queue/{location}", headers=headers)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        body: dict[str, Any] = r.json()
        if body["count"] == count or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_registrations_and_a_discharge_show_in_the_queue_and_as_encounters(
    server: ServeProcess,
) -> None:
    messages = [
        adt("A04", "E1", mrn="M1", visit="V1", location="ED", admit_type="R", patient_class="E"),
        adt(
            "A04",
            "E2",
            mrn="M2",
            visit="V2",
            location="ED",
            admit_type="E",
            patient_class="E",
            event_time="20240101121000",
        ),
        adt(
            "A04",
            "E3",
            mrn="M3",
            visit="V3",
            location="ED",
            admit_type="U",
            patient_class="O",
            event_time="20240101122000",
        ),
        adt("A03", "E4", mrn="M3", visit="V3", location="ED", event_time="20240101125000"),
    ]
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        assert [ack_code_of(client.send(m)) for m in messages] == ["AA"] * 4

    body = _queue(server.base_url, "ED", 2, headers=server.headers)
    assert [e["visit_number"] for e in body["entries"]] == ["V2", "V1"]  # emergency first
    first = body["entries"][0]
    assert datetime.fromisoformat(first["arrived_at"]) == s.at("1210")
    assert first["wait_seconds"] > 0  # measured against the server's wall clock

    stats = httpx.get(
        f"{server.base_url}/api/queue/ED/stats",
        params={"date": "2024-01-01"},
        headers=server.headers,
    )
    assert stats.status_code == 200
    assert (stats.json()["left"], stats.json()["p90_wait_seconds"]) == (1, 1800.0)
    bad = httpx.get(
        f"{server.base_url}/api/queue/ED/stats",
        params={"date": "01/01/2024"},
        headers=server.headers,
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"

    r = httpx.get(
        f"{server.base_url}/fhir/Encounter",
        params={"patient": s.patient("M3")},
        headers=server.headers,
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    (entry,) = r.json()["entry"]
    assert entry["resource"]["status"] == "finished"
    assert entry["resource"]["period"]["end"] == "2024-01-01T12:50:00Z"
