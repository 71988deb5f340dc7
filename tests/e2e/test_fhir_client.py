"""A real FHIR client library (fhirpy) writes to a running `carelog serve`.

Conditional create (fhirpy's get_or_create), a transaction Bundle, a
conditional update and a read, over real HTTP; the queue the visit joins and
leaves is read back from the analysts' API.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient

from tests.e2e.server import ServeProcess, carelog_command
from tests.integration.fhir import resources as r
from tests.integration.fhir.client import fhir_headers

pytestmark = [pytest.mark.e2e, pytest.mark.native]

MRN1 = f"{r.HOSP}|MRN1"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(f"sqlite:///{tmp_path / 'var' / 'carelog.db'}").start()
    yield proc
    proc.kill()


def _headers(server: ServeProcess) -> dict[str, str]:
    """FHIR JSON, and a full-access token from the served store's embedded issuer."""
    return fhir_headers(server.headers)


def _queue(server: ServeProcess, location: str, wanted: list[str]) -> list[str]:
    """Polls the queue until it lists ``wanted`` (read models trail the commit) or 10 s pass."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{server.base_url}/api/queue/{location}", headers=_headers(server))
        assert response.status_code == 200
        found = [e["visit_number"] for e in response.json()["entries"]]
        if found == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_fhirpy_creates_transacts_updates_and_reads(server: ServeProcess) -> None:
    client = SyncFHIRClient(f"{server.base_url}/fhir", extra_headers=_headers(server))
    patients = client.resources("Patient").search(identifier=MRN1)
    patient, created = patients.get_or_create(client.resource("Patient", **r.patient()))
    assert created and patient.id
    again, created_again = patients.get_or_create(
        client.resource("Patient", **r.patient(family="OTHER"))
    )
    assert not created_again and again.id == patient.id

    visit: dict[str, Any] = r.bundle(
        r.entry(r.encounter(subject=f"Patient/{patient.id}")),
        r.entry(r.observation(subject=f"Patient/{patient.id}")),
        identifier="first-visit",
    )
    response = client.execute(client.url, method="post", data=visit)
    assert response["type"] == "transaction-response"
    assert [e["response"]["status"] for e in response["entry"]] == ["201 Created"] * 2
    assert _queue(server, "ED", ["V1"]) == ["V1"]
    resent = client.execute(client.url, method="post", data=visit)
    assert [e["response"]["status"] for e in resent["entry"]] == ["200 OK"] * 2

    encounters = client.resources("Encounter").search(identifier=f"{r.HOSP}|V1")
    finished, _ = encounters.update(
        client.resource(
            "Encounter", **r.encounter(status="finished", subject=f"Patient/{patient.id}")
        )
    )
    assert finished["status"] == "finished"
    assert _queue(server, "ED", []) == []

    read = client.reference("Patient", patient.id).to_resource()
    assert read["name"][0]["family"] == "DOE"
    assert read["identifier"][0]["value"] == "MRN1"


def test_carelog_import_to_a_running_server(server: ServeProcess, tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    lines = [json.dumps(r.patient(f"MRN{i}")) for i in range(3)]
    path.write_text("\n".join([*lines, json.dumps(r.patient("BAD", birthDate="x"))]) + "\n")
    token = server.headers["Authorization"].removeprefix("Bearer ")
    run = [*carelog_command(), "import", str(path), "--to", server.base_url, "--token", token]
    first = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1
    assert first.stdout.strip().endswith("3 created, 0 updated, 0 unchanged, 1 refused")
    assert f"{path}:4: 400" in first.stderr
    again = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert again.stdout.strip().endswith("0 created, 0 updated, 3 unchanged, 1 refused")
