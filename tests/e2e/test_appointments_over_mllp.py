"""SIU over a real MLLP socket to `carelog serve`: book -> reschedule -> arrive (A04), then the
expected list, the queue and FHIR Appointment over HTTP; a bad SIU is AE with ERR."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.mllp.client import MLLPClient, ack_code_of
from tests.e2e.server import ServeProcess
from tests.messages import adt, siu

pytestmark = [pytest.mark.e2e, pytest.mark.native]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(f"sqlite:///{tmp_path / 'carelog.db'}").start()
    yield proc
    proc.kill()


def _until(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    """Polls ``fetch`` until ``done``: the read models trail the ACK by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_book_reschedule_arrive_over_mllp(server: ServeProcess) -> None:
    def expected() -> dict[str, Any]:
        r = httpx.get(
            f"{server.base_url}/api/queue/CLINIC1/expected",
            params={"date": "2024-01-02"},
            headers=server.headers,
        )
        assert r.status_code == 200
        body: dict[str, Any] = r.json()
        return body

    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        assert ack_code_of(client.send(siu("S12", "S1", mrn="M1"))) == "AA"
        booked = _until(expected, lambda b: b["count"] == 1)
        assert [(e["status"], e["start"]) for e in booked["entries"]] == [
            ("booked", "2024-01-02T09:00:00+00:00")
        ]
        moved = siu("S13", "S2", mrn="M1", start="20240102143000")
        assert ack_code_of(client.send(moved)) == "AA"
        later = _until(expected, lambda b: b["entries"][0]["start"].startswith("2024-01-02T14"))
        assert later["entries"][0]["start"] == "2024-01-02T14:30:00+00:00"
        arrive = adt(
            "A04", "S3", mrn="M1", visit="V1", patient_class="O", location="CLINIC1",
            event_time="20240102142000",
        )  # fmt: skip
        assert ack_code_of(client.send(arrive)) == "AA"
        bad = client.send(siu("S13", "S4", mrn="M1", appointment="NOPE"))
        assert ack_code_of(bad) == "AE"
        assert b"ERR|" in bad and b"SCH^1^2" in bad

    arrived = _until(expected, lambda b: b["entries"][0]["status"] == "arrived")
    entry = arrived["entries"][0]
    assert entry["status"] == "arrived" and entry["encounter_id"]
    queue = httpx.get(f"{server.base_url}/api/queue/CLINIC1", headers=server.headers).json()
    assert [e["encounter_id"] for e in queue["entries"]] == [entry["encounter_id"]]
    r = httpx.get(
        f"{server.base_url}/fhir/Appointment/{entry['appointment_id']}", headers=server.headers
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    assert (r.json()["status"], r.json()["start"]) == ("arrived", "2024-01-02T14:30:00Z")
