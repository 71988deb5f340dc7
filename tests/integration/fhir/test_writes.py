"""FHIR write interactions and their status codes, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient

MRN1 = f"{r.HOSP}|MRN1"


def _head(fhir: FhirClient) -> int:
    return fhir.engine.ingestion.recorder.max_notification_id() or 0


def _statuses(response: Any) -> list[str]:
    return [e["response"]["status"] for e in response.json()["entry"]]


def _first_visit() -> dict[str, Any]:
    return r.bundle(
        r.entry(r.patient(), full_url="urn:uuid:p1"),
        r.entry(r.encounter(subject="urn:uuid:p1")),
        r.entry(r.observation(subject="urn:uuid:p1")),
    )


def test_a_transaction_creates_every_entry_with_location_and_etag(fhir: FhirClient) -> None:
    response = fhir.post("/fhir", _first_visit())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response"
    assert _statuses(response) == ["201 Created"] * 3
    patient = body["entry"][0]["response"]
    assert patient["etag"] == 'W/"1"'
    patient_id = patient["location"].split("/fhir/Patient/")[1].split("/")[0]
    # The entries shown back name the patient by its id, not the Bundle's urn:uuid placeholder.
    shown = [e["resource"]["subject"]["reference"] for e in body["entry"][1:]]
    assert shown == [f"Patient/{patient_id}"] * 2
    fhir.catch_up()
    read = fhir.get(f"/fhir/Patient/{patient_id}")
    assert read.status_code == 200 and read.json()["name"][0]["family"] == "DOE"
    encounters = fhir.get(f"/fhir/Encounter?patient={patient_id}").json()
    assert [e["resource"]["status"] for e in encounters["entry"]] == ["in-progress"]
    observations = fhir.get(f"/fhir/Observation?patient={patient_id}").json()
    assert observations["entry"][0]["resource"]["valueQuantity"]["value"] == 5.4
    assert (
        body["entry"][2]["response"]["location"].split("/")[-3]
        == (observations["entry"][0]["resource"]["id"])
    )


def test_a_transaction_with_one_bad_entry_leaves_nothing(fhir: FhirClient) -> None:
    head = _head(fhir)
    bad = r.patient("MRN2", birthDate="1980-13-45")
    response = fhir.post("/fhir", r.bundle(r.entry(r.patient()), r.entry(bad)))
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.birthDate"]
    assert _head(fhir) == head


def test_a_transaction_refused_by_a_domain_rule_is_422_and_leaves_nothing(
    fhir: FhirClient,
) -> None:
    head = _head(fhir)
    planned_then_finished = r.bundle(
        r.entry(r.patient()),
        r.entry(r.encounter(status="planned")),
    )
    assert fhir.post("/fhir", planned_then_finished).status_code == 200
    head = _head(fhir)
    finished = r.bundle(
        r.entry(r.observation()),
        r.entry(r.encounter(status="finished"), "PUT", url=f"Encounter?identifier={r.HOSP}|V1"),
    )
    response = fhir.post("/fhir", finished)
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "business-rule" and "never started" in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[1].resource"]
    assert _head(fhir) == head


def test_a_batch_with_one_bad_entry_keeps_the_others(fhir: FhirClient) -> None:
    batch = r.bundle(
        r.entry(r.patient("MRN1")),
        r.entry(r.patient("MRN2", birthDate="not a date")),
        r.entry(
            r.encounter("V9", status="finished", subject=f"Patient?identifier={r.HOSP}|NOBODY")
        ),
        r.entry(r.patient("MRN3")),
        kind="batch",
    )
    response = fhir.post("/fhir", batch)
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "batch-response"
    assert _statuses(response) == ["201 Created", "400", "404", "201 Created"]
    assert body["entry"][1]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.birthDate"
    ]
    fhir.catch_up()
    found = fhir.get(f"/fhir/Patient?identifier={r.HOSP}|MRN3").json()
    assert found["total"] == 1
    assert fhir.get(f"/fhir/Patient?identifier={r.HOSP}|MRN2").json()["total"] == 0


def test_if_none_exist_creates_once_even_twice_in_one_bundle(fhir: FhirClient) -> None:
    cond = f"identifier={MRN1}"
    first = fhir.post("/fhir/Patient", r.patient(), if_none_exist=cond)
    assert first.status_code == 201 and first.headers["etag"] == 'W/"1"'
    again = fhir.post("/fhir/Patient", r.patient(family="OTHER"), if_none_exist=cond)
    assert again.status_code == 200 and again.headers["location"] == first.headers["location"]
    twice = r.bundle(
        r.entry(r.patient("MRN5"), ifNoneExist=f"identifier={r.HOSP}|MRN5"),
        r.entry(r.patient("MRN5", family="SECOND"), ifNoneExist=f"identifier={r.HOSP}|MRN5"),
    )
    response = fhir.post("/fhir", twice)
    assert _statuses(response) == ["201 Created", "200 OK"]
    fhir.catch_up()
    found = fhir.get(f"/fhir/Patient?identifier={r.HOSP}|MRN5").json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["name"][0]["family"] == "DOE"


def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(fhir: FhirClient) -> None:
    created = fhir.post("/fhir/Patient", r.patient())
    patient_id = created.headers["location"].split("/")[-3]
    path = f"/fhir/Patient/{patient_id}"
    renamed = fhir.put(path, r.patient(family="SMITH"), if_match='W/"1"')
    assert renamed.status_code == 200 and renamed.headers["etag"] == 'W/"2"'
    head = _head(fhir)
    stale = fhir.put(path, r.patient(family="JONES"), if_match='W/"1"')
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict"
    assert _head(fhir) == head
    fhir.catch_up()
    assert fhir.get(path).json()["name"][0]["family"] == "SMITH"


def test_conditional_update_creates_then_updates(fhir: FhirClient) -> None:
    path = f"/fhir/Patient?identifier={MRN1}"
    created = fhir.put(path, r.patient())
    assert created.status_code == 201
    updated = fhir.put(path, r.patient(family="SMITH"))
    assert updated.status_code == 200 and updated.headers["etag"] == 'W/"2"'
    same = fhir.put(path, r.patient(family="SMITH"))
    assert same.status_code == 200 and same.headers["etag"] == 'W/"2"'


def test_a_resent_transaction_changes_nothing(fhir: FhirClient) -> None:
    sent = {**_first_visit(), "identifier": {"system": "urn:test", "value": "T1"}}
    assert fhir.post("/fhir", sent).status_code == 200
    head = _head(fhir)
    # Even if what it says was changed since, the same Bundle.identifier is a resend.
    fhir.put(f"/fhir/Patient?identifier={MRN1}", r.patient(family="LATER"))
    head = _head(fhir)
    again = fhir.post("/fhir", sent)
    assert again.status_code == 200
    assert _statuses(again) == ["200 OK"] * 3
    assert _head(fhir) == head


def test_prefer_minimal_and_operation_outcome(fhir: FhirClient) -> None:
    minimal = fhir.post("/fhir/Patient", r.patient(), prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["location"].endswith("/_history/1")
    oo = fhir.put(
        f"/fhir/Patient?identifier={MRN1}", r.patient(family="X"), prefer="return=OperationOutcome"
    )
    assert oo.status_code == 200 and oo.json()["resourceType"] == "OperationOutcome"


def test_errors_have_the_contract_statuses(fhir: FhirClient) -> None:
    head = _head(fhir)
    not_fhir = fhir.request(
        "POST", "/fhir/Patient", raw=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert not_fhir.status_code == 415
    not_json = fhir.request("POST", "/fhir", raw=b"{not json")
    assert not_json.status_code == 400
    too_big = fhir.request("POST", "/fhir", raw=b" " * ((1 << 20) + 1))
    assert too_big.status_code == 413
    unknown = fhir.put("/fhir/Patient/8c7dc32d-b075-5118-8ded-c7cd2ed7bce6", r.patient())
    assert unknown.status_code == 404
    no_identifier = {**r.patient(), "identifier": []}
    unkeyed = fhir.post("/fhir/Patient", no_identifier)
    assert unkeyed.status_code == 422
    assert unkeyed.json()["issue"][0]["expression"] == ["Patient.identifier"]
    wrong_type = fhir.post("/fhir/Patient", r.encounter())
    assert wrong_type.status_code == 400
    not_a_bundle = fhir.post("/fhir", r.patient())
    assert not_a_bundle.status_code == 400
    unknown_visit = fhir.post("/fhir/Encounter", r.encounter(subject="Patient?identifier=x|nobody"))
    assert unknown_visit.status_code == 404
    assert _head(fhir) == head


def test_the_metadata_lists_the_writes(fhir: FhirClient) -> None:
    statement = fhir.get("/fhir/metadata").json()
    rest = statement["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    by_type = {res["type"]: res for res in rest["resource"]}
    for kind in ("Patient", "Encounter", "Observation"):
        codes = {i["code"] for i in by_type[kind]["interaction"]}
        assert {"create", "update"} <= codes
        assert by_type[kind]["conditionalCreate"] and by_type[kind]["conditionalUpdate"]
    assert "create" not in {i["code"] for i in by_type["ChargeItem"]["interaction"]}


def test_every_write_is_kept_as_its_source(fhir: FhirClient) -> None:
    response = fhir.post("/fhir", _first_visit())
    patient_id = response.json()["entry"][0]["response"]["location"].split("/")[-3]
    fhir.catch_up()
    history = fhir.get(f"/api/patients/{patient_id}/history").json()
    sources = {json.dumps(e["source_message"], sort_keys=True) for e in history["events"]}
    assert len(sources) == 1
    source = json.loads(sources.pop())
    assert source["message_type"] == "FHIR transaction"
    assert source["sending_application"] == "test-user"  # the token subject (tests/tokens.py)
    kept = fhir.engine.ingestion.current(UUID(source["message_id"]))
    body = json.dumps(_first_visit()).encode()
    assert kept.raw == body.decode() and kept.sha256 == hashlib.sha256(body).hexdigest()


def test_reads_carry_the_version_and_etag_that_if_match_takes(fhir: FhirClient) -> None:
    response = fhir.post("/fhir", _first_visit())
    locations = [e["response"]["location"] for e in response.json()["entry"]]
    patient_id, encounter_id = (loc.split("/")[-3] for loc in locations[:2])
    fhir.put(f"/fhir/Patient/{patient_id}", r.patient(family="SMITH"))
    fhir.catch_up()
    read = fhir.get(f"/fhir/Patient/{patient_id}")
    assert read.json()["meta"]["versionId"] == "2" and read.headers["etag"] == 'W/"2"'
    visit = fhir.get(f"/fhir/Encounter/{encounter_id}")
    assert visit.json()["meta"]["versionId"] == "1" and visit.headers["etag"] == 'W/"1"'
    path = f"/fhir/Patient/{patient_id}"
    ok = fhir.put(path, r.patient(family="JONES"), if_match=read.headers["etag"])
    assert ok.status_code == 200 and ok.headers["etag"] == 'W/"3"'


def test_entries_and_ids_that_do_not_fit_are_refused(fhir: FhirClient) -> None:
    head = _head(fhir)
    delete = r.bundle(r.entry(r.patient(), "DELETE", url="Patient/x"))
    assert fhir.post("/fhir", delete).status_code == 400
    assert fhir.post("/fhir/ChargeItem", {"resourceType": "ChargeItem"}).status_code == 422
    assert fhir.post("/fhir/Basic", {"resourceType": "Basic"}).status_code == 404
    bad_status = fhir.post("/fhir/Encounter", r.encounter(status="walking"))
    assert bad_status.status_code == 400
    assert bad_status.json()["issue"][0]["expression"] == ["Encounter.status"]
    fhir.post("/fhir/Patient", r.patient())
    unmapped = fhir.post("/fhir/Encounter", r.encounter(status="entered-in-error"))
    assert unmapped.status_code == 422
    wrong_id = fhir.put("/fhir/Encounter/8c7dc32d-0000-5118-8ded-c7cd2ed7bce6", r.encounter())
    assert wrong_id.status_code == 400
    assert wrong_id.json()["issue"][0]["expression"] == ["Encounter.identifier"]
    not_its_id = fhir.put(f"/fhir/Encounter?identifier={r.HOSP}|V2", r.encounter("V1"))
    assert not_its_id.status_code == 412
    assert _head(fhir) == head + 2  # only the Patient (its source and its event)


def test_an_observation_is_corrected_in_place_with_its_etag(fhir: FhirClient) -> None:
    fhir.post("/fhir/Patient", r.patient())
    created = fhir.post("/fhir/Observation", r.observation(status="preliminary"))
    assert created.status_code == 201, created.text
    observation_id = created.headers["location"].split("/")[-3]
    final = fhir.put(
        f"/fhir/Observation/{observation_id}", r.observation(value="6.1"), if_match='W/"1"'
    )
    assert final.status_code == 200 and final.headers["etag"] == 'W/"2"'
    fhir.catch_up()
    patient_id = fhir.get(f"/fhir/Patient?identifier={MRN1}").json()["entry"][0]["resource"]["id"]
    found = fhir.get(f"/fhir/Observation?patient={patient_id}").json()["entry"]
    assert [(o["resource"]["id"], o["resource"]["status"]) for o in found] == [
        (observation_id, "final")
    ]
    assert found[0]["resource"]["valueQuantity"]["value"] == 6.1
