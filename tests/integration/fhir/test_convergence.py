"""Both protocols feed one patient, one queue and one history; FHIR writes race safely;
the sealed history verifies and replay rebuilds the same read models."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.domain.patient import Patient
from projections.catalog import CATALOG
from tests.integration.audit.helpers import dump
from tests.integration.audit.test_cli import carelog
from tests.integration.audit.test_replay import replay
from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient, open_client
from tests.messages import adt

MRN1 = f"{r.HOSP}|MRN1"


def _patient_id(fhir: FhirClient) -> str:
    found = fhir.get(f"/fhir/Patient?identifier={MRN1}").json()
    assert found["total"] == 1
    return str(found["entry"][0]["resource"]["id"])


def test_an_a01_patient_updated_by_fhir_is_one_patient_with_both_sources(
    fhir: FhirClient,
) -> None:
    assert fhir.engine.ingestion.ingest(adt("A01", "C1"), "mllp").ack_code == "AA"
    response = fhir.put(f"/fhir/Patient?identifier={MRN1}", r.patient(family="SMITH"))
    assert response.status_code == 200, response.text
    fhir.catch_up()
    patient_id = _patient_id(fhir)
    assert fhir.get(f"/fhir/Patient/{patient_id}").json()["name"][0]["family"] == "SMITH"
    history = fhir.get(f"/api/patients/{patient_id}/history").json()
    kinds = {e["source_message"]["message_type"] for e in history["events"]}
    assert kinds == {"ADT^A01", "FHIR PUT Patient"}
    assert [e["type"] for e in history["events"]][-1].endswith("DemographicsUpdated")


def _queue(fhir: FhirClient, location: str) -> list[str]:
    fhir.catch_up()
    return [e["visit_number"] for e in fhir.get(f"/api/queue/{location}").json()["entries"]]


def test_an_encounter_in_progress_joins_the_queue_and_leaves_when_finished(
    fhir: FhirClient,
) -> None:
    visit = f"Encounter?identifier={r.HOSP}|V1"
    first = r.bundle(r.entry(r.patient()), r.entry(r.encounter(status="planned"), "PUT", visit))
    assert fhir.post("/fhir", first).status_code == 200
    assert _queue(fhir, "ED") == []
    assert fhir.put(f"/fhir/{visit}", r.encounter(status="in-progress")).status_code == 200
    assert _queue(fhir, "ED") == ["V1"]
    moved = fhir.put(f"/fhir/{visit}", r.encounter(point_of_care="XRAY"))
    assert moved.status_code == 200 and moved.headers["etag"] == 'W/"3"'
    assert (_queue(fhir, "ED"), _queue(fhir, "XRAY")) == ([], ["V1"])
    done = fhir.put(f"/fhir/{visit}", r.encounter(status="finished", point_of_care="XRAY"))
    assert done.status_code == 200
    assert _queue(fhir, "XRAY") == []


def test_concurrent_conditional_creates_from_two_engines_give_one_patient(
    durable_store_url: str,
) -> None:
    """Two engines on one store stand for two `serve` processes (and two connections)."""
    clients = [open_client(durable_store_url) for _ in range(2)]
    a, b = (next(c) for c in clients)
    statuses: list[int] = []
    start = threading.Barrier(4)

    def create(client: FhirClient, family: str) -> None:
        start.wait()
        response = client.post(
            "/fhir/Patient", r.patient(family=family), if_none_exist=f"identifier={MRN1}"
        )
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=create, args=(c, f"N{i}")) for i, c in enumerate((a, b, a, b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    events = _events_of(a)
    assert [type(e).__name__ for e in events if isinstance(e, Patient.Registered)] == ["Registered"]
    assert not [e for e in events if isinstance(e, Patient.DemographicsUpdated)]
    for c in clients:
        _close(c)


def _events_of(client: FhirClient) -> list[Any]:
    app = client.engine.ingestion
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 10_000)]


def _close(gen: Iterator[FhirClient]) -> None:
    for _ in gen:
        pass


def test_replay_rebuilds_the_same_read_models_after_fhir_writes(
    durable_store_url: str,
) -> None:
    gen = open_client(durable_store_url)
    fhir = next(gen)
    visit = r.bundle(
        r.entry(r.patient(), full_url="urn:uuid:p"),
        r.entry(r.encounter(subject="urn:uuid:p")),
        r.entry(r.observation(subject="urn:uuid:p")),
    )
    assert fhir.post("/fhir", visit).status_code == 200
    fhir.engine.ingestion.ingest(adt("A08", "C2", name="DOE^JANET"), "mllp")
    fhir.catch_up()
    live = {spec.key: dump(durable_store_url, spec) for spec in CATALOG}
    replay(fhir.engine, list(CATALOG))
    assert {spec.key: dump(durable_store_url, spec) for spec in CATALOG} == live
    _close(gen)


def test_carelog_verify_and_history_after_fhir_writes(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    gen = open_client(f"sqlite:///{store}")
    fhir = next(gen)
    assert fhir.engine.ingestion.ingest(adt("A01", "C1"), "mllp").ack_code == "AA"
    update = fhir.put(f"/fhir/Patient?identifier={MRN1}", r.patient(family="SMITH"))
    assert update.status_code == 200
    _close(gen)
    key = {"CARELOG_SEAL_KEY": "test-seal-key"}
    sealed = carelog("verify", "--seal", store=store, env=key)
    assert sealed.returncode == 0, sealed.stdout + sealed.stderr
    intact = carelog("verify", store=store, env=key)
    assert intact.returncode == 0 and "intact:" in intact.stdout
    history = carelog("history", "--patient", "HOSP|MRN1", "--raw", store=store)
    assert history.returncode == 0, history.stderr
    assert "source ADT^A01" in history.stdout and "source FHIR PUT Patient" in history.stdout
    assert '"family": "SMITH"' in history.stdout  # the request body, as received
