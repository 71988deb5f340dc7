"""vread and instance ``_history`` of Patient and Encounter, on SQLite and PostgreSQL.

Each version is one stored event, rebuilt through the read model's projection
and mapping: a read's ``meta.versionId`` names a version whose vread is the
read, earlier versions show what the resource showed then, and the history
Bundle pages newest first without a duplicate or a gap. Bundles and resources are
checked against the fhir.resources R4B models (a history Bundle needs request and
response in every entry).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient
from tests.integration.fhir.test_reads import valid
from tests.messages import a40, adt

MRN1 = f"{r.HOSP}|MRN1"


def _one(fhir: FhirClient, query: str) -> dict[str, Any]:
    found = fhir.get(query).json()
    assert found["total"] == 1, found
    resource: dict[str, Any] = found["entry"][0]["resource"]
    return resource


def _feed(fhir: FhirClient) -> tuple[str, str]:
    """A patient (MRN1) renamed once, whose visit V1 was transferred once; their ids."""
    ingest = fhir.engine.ingestion.ingest
    assert ingest(adt("A01", "C1"), "mllp").ack_code == "AA"
    assert (
        ingest(adt("A08", "C2", name="ROE^JANE", event_time="20240101130000"), "mllp").ack_code
        == "AA"
    )
    moved = adt(
        "A02",
        "C3",
        location="WARD2^201^B^HOSP",
        prior_location="WARD1^101^A^HOSP",
        name="ROE^JANE",
        event_time="20240101140000",
    )
    assert ingest(moved, "mllp").ack_code == "AA"
    fhir.catch_up()
    patient = _one(fhir, f"/fhir/Patient?identifier={MRN1}")
    encounter = _one(fhir, f"/fhir/Encounter?patient={patient['id']}")
    return patient["id"], encounter["id"]


def _pages(fhir: FhirClient, url: str) -> list[dict[str, Any]]:
    """Every entry of a history, following ``next`` links."""
    entries: list[dict[str, Any]] = []
    while url:
        bundle = fhir.get(url.removeprefix("http://carelog.test")).json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
        entries.extend(bundle["entry"])
        url = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), "")
    return entries


def test_vread_gives_each_patient_version_and_the_read_is_the_newest(fhir: FhirClient) -> None:
    patient_id, _ = _feed(fhir)
    read = fhir.get(f"/fhir/Patient/{patient_id}")
    assert read.status_code == 200
    newest = read.json()["meta"]["versionId"]
    assert read.headers["ETag"] == f'W/"{newest}"'
    first = fhir.get(f"/fhir/Patient/{patient_id}/_history/1")
    valid(first.json())
    assert first.status_code == 200 and first.headers["ETag"] == 'W/"1"'
    assert first.json()["name"][0]["family"] == "DOE"
    assert first.json()["meta"]["versionId"] == "1"
    assert first.headers["Last-Modified"] == "Mon, 01 Jan 2024 12:00:00 GMT"  # the A01's time
    latest = fhir.get(f"/fhir/Patient/{patient_id}/_history/{newest}").json()
    assert latest == read.json()
    assert latest["name"][0]["family"] == "ROE"
    assert latest["meta"]["lastUpdated"] > first.json()["meta"]["lastUpdated"]


def test_an_unknown_version_or_resource_is_404(fhir: FhirClient) -> None:
    patient_id, encounter_id = _feed(fhir)
    for path in (
        f"/fhir/Patient/{patient_id}/_history/99",
        f"/fhir/Patient/{patient_id}/_history/x",
        f"/fhir/Patient/{encounter_id}/_history/1",  # a visit's id is no Patient
        f"/fhir/Encounter/{patient_id}/_history",
        f"/fhir/Patient/{UUID(int=7)}/_history",
        "/fhir/Patient/not-an-id/_history/1",
    ):
        answer = fhir.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["resourceType"] == "OperationOutcome"
    refused = fhir.get(f"/fhir/Patient/{patient_id}/_history?_since=2024-01-01")
    assert refused.status_code == 400 and "_since" in refused.text


def test_history_is_newest_first_and_pages_without_duplicates(fhir: FhirClient) -> None:
    patient_id, encounter_id = _feed(fhir)
    whole = valid(fhir.get(f"/fhir/Encounter/{encounter_id}/_history").json())
    versions = [e["resource"]["meta"]["versionId"] for e in whole["entry"]]
    assert whole["total"] == len(versions) >= 2
    first, newest = whole["entry"][-1]["resource"], whole["entry"][0]["resource"]
    assert newest["meta"]["lastUpdated"] > first["meta"]["lastUpdated"]  # the transfer's time
    assert versions == [str(v) for v in range(len(versions), 0, -1)]
    read = fhir.get(f"/fhir/Encounter/{encounter_id}").json()
    assert whole["entry"][0]["resource"] == read
    assert whole["entry"][-1]["request"] == {"method": "POST", "url": "Encounter"}
    assert whole["entry"][-1]["response"]["status"] == "201 Created"
    assert whole["entry"][0]["request"] == {"method": "PUT", "url": f"Encounter/{encounter_id}"}
    assert whole["entry"][0]["response"]["etag"] == f'W/"{versions[0]}"'
    places = [e["resource"]["location"][-1]["location"]["display"] for e in whole["entry"]]
    assert places[0].startswith("WARD2") and places[-1].startswith("WARD1")
    paged = _pages(fhir, f"/fhir/Encounter/{encounter_id}/_history?_count=1")
    assert [e["resource"]["meta"]["versionId"] for e in paged] == versions
    patient_pages = _pages(fhir, f"/fhir/Patient/{patient_id}/_history?_count=1")
    assert [e["resource"]["name"][0]["family"] for e in patient_pages][-1] == "DOE"


def test_a_merge_gives_the_survivor_a_new_version_with_the_old_mrn(fhir: FhirClient) -> None:
    ingest = fhir.engine.ingestion.ingest
    assert ingest(adt("A01", "C1"), "mllp").ack_code == "AA"
    assert ingest(adt("A01", "C2", mrn="MRN3", visit="V3"), "mllp").ack_code == "AA"
    fhir.catch_up()
    survivor = _one(fhir, f"/fhir/Patient?identifier={MRN1}")
    retired = _one(fhir, f"/fhir/Patient?identifier={r.HOSP}|MRN3")
    assert ingest(a40("M1", survivor="MRN1", retired="MRN3"), "mllp").ack_code == "AA"
    fhir.catch_up()
    after = fhir.get(f"/fhir/Patient/{survivor['id']}").json()
    assert int(after["meta"]["versionId"]) > int(survivor["meta"].get("versionId", "1"))
    assert after["meta"]["lastUpdated"] > survivor["meta"]["lastUpdated"]
    uses = {i["value"]: i.get("use") for i in after["identifier"]}
    assert uses == {"MRN1": None, "MRN3": "old"}
    # A client that writes the survivor back as read changes nothing (no new version).
    sent = {k: v for k, v in after.items() if k != "meta"}
    put = fhir.put(f"/fhir/Patient/{survivor['id']}", sent)
    assert put.status_code == 200 and put.headers["ETag"] == f'W/"{after["meta"]["versionId"]}"'
    # The old MRN still finds the survivor (as HAPI does), and the retired record points on.
    assert _one(fhir, f"/fhir/Patient?identifier={r.HOSP}|MRN3")["id"] == survivor["id"]
    gone = fhir.get(f"/fhir/Patient/{retired['id']}").json()
    assert gone["active"] is False
    assert gone["link"][0]["other"]["reference"] == f"Patient/{survivor['id']}"
    # The merge is in the survivor's history, and vread of the version before it has no MRN3.
    history = valid(fhir.get(f"/fhir/Patient/{survivor['id']}/_history").json())
    assert history["entry"][0]["resource"] == after
    before = fhir.get(f"/fhir/Patient/{survivor['id']}/_history/1").json()
    assert [i["value"] for i in before["identifier"]] == ["MRN1"]
    # The retired visit's Encounter names the survivor in every version, as its read does.
    visits = fhir.get(f"/fhir/Encounter?patient={survivor['id']}").json()["entry"]
    (moved,) = [e["resource"] for e in visits if e["resource"]["identifier"][0]["value"] == "V3"]
    versions = fhir.get(f"/fhir/Encounter/{moved['id']}/_history").json()["entry"]
    assert {e["resource"]["subject"]["reference"] for e in versions} == {
        f"Patient/{survivor['id']}"
    }


def test_an_erased_patients_history_is_gone(fhir: FhirClient) -> None:
    patient_id, encounter_id = _feed(fhir)
    keyring = fhir.engine.ingestion.mapper.keyring  # type: ignore[attr-defined]
    assert keyring.forget([UUID(patient_id).hex]) == 1
    for path in (
        f"/fhir/Patient/{patient_id}/_history",
        f"/fhir/Patient/{patient_id}/_history/1",
        f"/fhir/Encounter/{encounter_id}/_history",
    ):
        answer = fhir.get(path)
        assert answer.status_code == 410, path
        assert answer.json()["issue"][0]["code"] == "deleted"


def test_the_capability_statement_lists_vread_and_history(fhir: FhirClient) -> None:
    statement = fhir.get("/fhir/metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for kind in ("Patient", "Encounter"):
        codes = [i["code"] for i in by_type[kind]["interaction"]]
        assert "vread" in codes and "history-instance" in codes, kind
    assert "vread" not in [i["code"] for i in by_type["Observation"]["interaction"]]


def test_a_version_arriving_while_a_client_pages_shifts_no_page(fhir: FhirClient) -> None:
    patient_id, _ = _feed(fhir)
    page = fhir.get(f"/fhir/Patient/{patient_id}/_history?_count=1").json()
    newest = page["entry"][0]["resource"]["meta"]["versionId"]
    (after,) = [x["url"] for x in page["link"] if x["relation"] == "next"]
    renamed = adt("A08", "C9", name="POE^JANE", event_time="20240102090000", pv1=False)
    assert fhir.engine.ingestion.ingest(renamed, "mllp").ack_code == "AA"
    rest = _pages(fhir, after)
    seen = [newest, *(e["resource"]["meta"]["versionId"] for e in rest)]
    assert seen == [str(v) for v in range(int(newest), 0, -1)]  # no duplicate, no gap
    again = fhir.get(f"/fhir/Patient/{patient_id}/_history").json()
    assert again["total"] == int(newest) + 1
    assert again["entry"][0]["resource"]["name"][0]["family"] == "POE"
