"""ADT^A01 over a real MLLP socket becomes a stored event and a FHIR Patient."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.mllp.client import MLLPClient, ack_code_of
from engine.hl7.message import parse_message
from tests.conftest import sample
from tests.e2e.server import ServeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.native]


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'carelog.db'}"


@pytest.fixture
def server(store: str) -> Iterator[ServeProcess]:
    proc = ServeProcess(store).start()
    yield proc
    proc.kill()


def stored_events(store: str) -> list[str]:
    with sqlite3.connect(store[len("sqlite:///") :]) as db:
        return [row[0] for row in db.execute("SELECT topic FROM stored_events ORDER BY rowid")]


def find_patient(
    base_url: str, identifier: str, timeout: float = 10.0, *, headers: dict[str, str]
) -> dict[str, Any]:
    """Polls the FHIR search: the read model trails the ACK by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(
            f"{base_url}/fhir/Patient", params={"identifier": identifier}, headers=headers
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/fhir+json")
        bundle = r.json()
        if bundle["total"] or time.monotonic() > deadline:
            return bundle
        time.sleep(0.05)


def test_a01_is_acknowledged_stored_and_readable_over_fhir(
    server: ServeProcess, store: str
) -> None:
    message = sample("adt_a01.hl7")
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        ack = parse_message(client.send(message))
    assert ack.get("MSA", 1) == "AA"
    assert ack.get("MSA", 2) == "MSG00001"
    assert ack.field("MSH", 9) == "ACK^A01^ACK"
    # AA means committed: the events are in the database now, not eventually.
    assert [t.rsplit(":", 1)[1] for t in stored_events(store)] == [
        "InboundMessage.Received",
        "Patient.Registered",
        "Encounter.Admitted",
    ]

    bundle = find_patient(server.base_url, "HOSP|123456", headers=server.headers)
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    patient = bundle["entry"][0]["resource"]
    assert patient["name"][0] == {"family": "DOE", "given": ["JANE", "Q"]}
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1980-01-01"
    systems = {i["value"]: i["system"] for i in patient["identifier"]}
    assert systems["123456"] == "urn:carelog:assigning-authority:HOSP"

    r = httpx.get(f"{server.base_url}/fhir/Patient/{patient['id']}", headers=server.headers)
    assert r.status_code == 200
    assert r.json()["id"] == patient["id"]
    full_system = find_patient(
        server.base_url, "urn:carelog:assigning-authority:HOSP|123456", headers=server.headers
    )
    assert full_system["total"] == 1
    assert (
        find_patient(server.base_url, "OTHER|123456", timeout=0, headers=server.headers)["total"]
        == 0
    )

    missing = httpx.get(f"{server.base_url}/fhir/Patient/does-not-exist", headers=server.headers)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"
    assert httpx.get(f"{server.base_url}/health").status_code == 200


def test_resend_is_aa_and_adds_no_event(server: ServeProcess, store: str) -> None:
    message = sample("adt_a01.hl7")
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        assert ack_code_of(client.send(message)) == "AA"
        before = stored_events(store)
        assert ack_code_of(client.send(message)) == "AA"
    assert stored_events(store) == before


@pytest.mark.parametrize(
    "bad",
    [
        b"this is not HL7 at all",
        b"PID|1||123456^^^HOSP^MR\rMSH|^~\\&|LAB|HOSP|||20240101||ADT^A01|X1|P|2.5\r",
        b"MSH|^~\\&|LAB|HOSP|||20240101||ADT^A01|X2|P|9.9\rPID|1||1^^^H^MR\rPV1|1|I\r",
    ],
)
def test_malformed_message_is_ar_and_changes_nothing(
    server: ServeProcess, store: str, bad: bytes
) -> None:
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        ack = parse_message(client.send(bad))
        assert ack.get("MSA", 1) == "AR"
        assert ack.has("ERR")
        # The connection stays usable after a rejected message.
        assert ack_code_of(client.send(sample("adt_a01.hl7"))) == "AA"
    topics = stored_events(store)
    logged = [t for t in topics if t.startswith("engine.domain.rejected:")]
    assert len(logged) == 1  # kept for the console's message log, apart from the domain
    assert len(topics) - len(logged) == 3


def test_restart_keeps_the_patient(store: str) -> None:
    first = ServeProcess(store).start()
    try:
        with MLLPClient("127.0.0.1", first.mllp_port, timeout_s=10) as client:
            assert ack_code_of(client.send(sample("adt_a04_v23_lf.hl7"))) == "AA"
        assert find_patient(first.base_url, "CLINIC|55501", headers=first.headers)["total"] == 1
    finally:
        assert first.stop() == 0
    second = ServeProcess(store).start()
    try:
        bundle = find_patient(second.base_url, "CLINIC|55501", timeout=5, headers=second.headers)
        assert bundle["total"] == 1
        assert bundle["entry"][0]["resource"]["name"][0]["family"] == "ROE"
    finally:
        assert second.stop() == 0


def test_logs_one_line_per_message_without_phi(server: ServeProcess) -> None:
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        client.send(sample("adt_a01.hl7"))
        client.send(b"garbage")
    server.stop()
    handled = server.events("mllp.message_handled")
    assert len(handled) == 2
    first = handled[0]
    assert first["msg_control_id"] == "MSG00001"
    assert first["msg_type"] == "ADT^A01"
    assert first["ack_code"] == "AA"
    assert isinstance(first["duration_ms"], int | float)  # logged; its value is for bench/
    assert handled[1]["ack_code"] == "AR"
    everything = "".join(server.raw_stderr)
    for phi in ("DOE", "JANE", "123456", "19800101", "MAIN ST"):
        assert phi not in everything


def test_metrics_count_answers_and_group_commits(server: ServeProcess) -> None:
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        client.send(sample("adt_a01.hl7"))
        client.send(sample("adt_a01.hl7").replace(b"MSG00001", b"MSG00002"))
    text = httpx.get(f"{server.base_url}/metrics", timeout=10, headers=server.headers).text
    values = {
        name: float(value)
        for name, value in (
            line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
        )
    }
    assert values['carelog_messages_total{ack_code="AA"}'] == 2
    assert values["carelog_writer_messages_total"] == 2
    assert values["carelog_writer_commits_total"] == 2  # one sender, stop-and-wait
    assert "# TYPE carelog_writer_commits_total counter" in text
    received = [k for k in values if k.startswith("carelog_messages_received_total{")]
    assert received and all('message_type="ADT^A01"' in k for k in received), received
    assert values["carelog_ingest_seconds_count"] == 2
    assert values["carelog_store_bytes"] > 0 and values["carelog_store_head_position"] > 0
    lags = {k: v for k, v in values.items() if k.startswith("carelog_projection_lag_events{")}
    assert 'carelog_projection_lag_events{read_model="patients_v1"}' in lags, lags
    assert "carelog_mllp_connections_open" in values
    # HTTP requests by route template: this scrape's own is counted at the next one.
    again = httpx.get(f"{server.base_url}/metrics", timeout=10, headers=server.headers).text
    assert 'carelog_http_requests_total{method="GET",route="/metrics",status="200"}' in again

    def metrics_lines() -> list[dict[str, Any]]:
        return [e for e in server.events("http.request") if e["route"] == "/metrics"]

    deadline = time.monotonic() + 10
    while not metrics_lines() and time.monotonic() < deadline:
        time.sleep(0.05)  # the log reader thread takes the lines as they come
    lines = metrics_lines()
    assert lines and lines[0]["status"] == 200 and lines[0]["method"] == "GET"
    assert lines[0]["principal"] and isinstance(lines[0]["duration_ms"], int | float)
