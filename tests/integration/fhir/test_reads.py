"""FHIR reads by id: every fullUrl and reference carelog serves resolves, with versions.

A visit fed over both protocols (ADT, ORU, DFT over v2; a second patient,
visit and result by a FHIR transaction; a merge) is crawled from the
searches: every ``fullUrl`` and every ``reference`` in every response is
followed until nothing new is found, and each answers 200 with the resource
it names. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient, open_client
from tests.messages import a40, adt, dft, oru, siu

BASE = "http://carelog.test/fhir/"
GLUCOSE = {1: "1", 2: "NM", 3: "2345-7^Glucose^LN", 5: "5.50", 6: "mmol/L", 11: "F"}
SODIUM = {1: "2", 2: "NM", 3: "2951-2^Sodium^LN", 5: "140", 6: "mmol/L", 11: "F"}
CHARGES = [
    {1: "1", 2: "T1", 4: "20240101", 6: "CG", 7: "99213^Office visit^CPT", 10: "1",
     11: "136.10&USD"},
    {1: "2", 2: "T2", 4: "20240101", 6: "CG", 7: "85025^CBC^CPT", 10: "1", 11: "30.00&USD"},
    {1: "3", 2: "T3", 4: "20240102", 6: "CG", 7: "85025^CBC^CPT", 10: "-1",
     11: "-30.00&USD"},
]  # fmt: skip


def _feed(fhir: FhirClient) -> None:
    ingest = fhir.engine.ingestion.ingest
    assert ingest(adt("A01", "C1"), "mllp").ack_code == "AA"
    assert ingest(oru("L1", [GLUCOSE, SODIUM]), "mllp").ack_code == "AA"
    assert ingest(dft("B1", CHARGES, account="ACC1"), "mllp").ack_code == "AA"
    visit = r.bundle(
        r.entry(r.patient("MRN2", family="ROE"), full_url="urn:uuid:p2"),
        r.entry(r.encounter("V2", subject="urn:uuid:p2")),
        r.entry(r.observation("ORD2", subject="urn:uuid:p2")),
    )
    assert fhir.post("/fhir", visit).status_code == 200
    assert ingest(adt("A01", "C2", mrn="MRN3", visit="V3"), "mllp").ack_code == "AA"
    assert ingest(dft("B2", CHARGES[:1], account="ACC3", mrn="MRN3", visit="V3")).ack_code == "AA"
    assert ingest(a40("M1", survivor="MRN1", retired="MRN3"), "mllp").ack_code == "AA"
    assert ingest(siu("S12", "S1"), "mllp").ack_code == "AA"  # MRN1's follow-up booked
    fhir.catch_up()


def _patient_ids(fhir: FhirClient, *mrns: str) -> list[str]:
    out = []
    for mrn in mrns:
        found = fhir.get(f"/fhir/Patient?identifier={r.HOSP}|{mrn}").json()
        out.extend(e["resource"]["id"] for e in found["entry"])
    return out


def _references(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("reference", "fullUrl") and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(data, list):
        for item in data:
            yield from _references(item)


def _path(reference: str) -> str:
    """The path a reference or fullUrl names (relative ones against the FHIR base)."""
    relative = reference.removeprefix(BASE)
    assert "://" not in relative and relative.count("/") == 1, reference
    return f"/fhir/{relative}"


def valid(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` after checking it against the R4B model of its type (raises if invalid)."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def _crawl(fhir: FhirClient, starts: list[str]) -> dict[str, dict[str, Any]]:
    """Follows every reference from ``starts`` until closure; each must answer 200.

    Every Bundle and resource met is also validated (fhir.resources, R4B models).
    """
    seen: dict[str, dict[str, Any]] = {}
    pending = [fhir.get(path) for path in starts]
    for response in pending:
        assert response.status_code == 200, response.text
    bodies = [valid(p.json()) for p in pending]
    while bodies:
        body = bodies.pop()
        for reference in _references(body):
            path = _path(reference)
            if path in seen:
                continue
            response = fhir.get(path)
            assert response.status_code == 200, f"{reference}: {response.text}"
            resource = valid(response.json())
            kind, resource_id = path.split("/")[2:]
            assert (resource["resourceType"], resource["id"]) == (kind, resource_id)
            assert response.headers["ETag"] == f'W/"{resource["meta"]["versionId"]}"'
            seen[path] = resource
            bodies.append(resource)
    return seen


def test_every_full_url_and_reference_served_resolves(fhir: FhirClient) -> None:
    _feed(fhir)
    patients = _patient_ids(fhir, "MRN1", "MRN2", "MRN3")
    assert len(patients) == 3
    starts = [
        f"/fhir/{kind}?patient={p}"
        for p in patients
        for kind in ("Encounter", "Observation", "ChargeItem", "DiagnosticReport", "Account")
    ] + [f"/fhir/Patient?identifier={r.HOSP}|{mrn}" for mrn in ("MRN1", "MRN2", "MRN3")]
    starts += [f"/fhir/Patient/{p}/$everything" for p in patients]
    starts += [
        f"/fhir/{k}?patient={patients[0]}&_include={k}:patient"
        for k in ("Encounter", "Observation")
    ]
    starts += [
        f"/fhir/DiagnosticReport?patient={patients[0]}&_include=DiagnosticReport:result",
        "/fhir/Patient?_revinclude=Observation:patient&_revinclude=Encounter:patient&_count=1",
        f"/fhir/Appointment?patient={patients[0]}",
        f"/fhir/Patient/{patients[0]}/_history",  # versions name their resource
    ]
    seen = _crawl(fhir, starts)
    kinds = {path.split("/")[2] for path in seen}
    assert kinds == {
        "Patient", "Encounter", "Observation", "ChargeItem", "Account", "DiagnosticReport",
        "Appointment",
    }  # fmt: skip
    observations = [v for k, v in seen.items() if k.startswith("/fhir/Observation/")]
    assert len(observations) == 3
    charges = [v for k, v in seen.items() if k.startswith("/fhir/ChargeItem/")]
    assert sorted(c["status"] for c in charges) == [
        "billable",
        "billable",
        "entered-in-error",
        "entered-in-error",
    ]


def test_a_read_observation_is_the_searched_one_with_its_report_version(
    fhir: FhirClient,
) -> None:
    _feed(fhir)
    patient_id = _patient_ids(fhir, "MRN1")[0]
    found = fhir.get(f"/fhir/Observation?patient={patient_id}").json()["entry"][0]
    path = _path(found["fullUrl"])
    first = fhir.get(path)
    assert first.json() == {**found["resource"], "meta": first.json()["meta"]}
    assert first.json()["meta"]["versionId"] == "1"
    corrected = {**GLUCOSE, 5: "6.10", 11: "C"}
    assert fhir.engine.ingestion.ingest(oru("L2", [corrected], status="C")).ack_code == "AA"
    fhir.catch_up()
    second = fhir.get(path)
    assert second.json()["valueQuantity"]["value"] == 6.1
    assert second.headers["ETag"] == 'W/"2"'
    assert second.json()["meta"]["lastUpdated"] >= first.json()["meta"]["lastUpdated"]


def test_a_merged_patients_account_and_charges_name_the_survivor(fhir: FhirClient) -> None:
    _feed(fhir)
    survivor, retired = _patient_ids(fhir, "MRN1", "MRN3")
    found = fhir.get(f"/fhir/ChargeItem?patient={retired}").json()["entry"]
    items = [i for i in found if i["resource"]["account"][0]["display"] == "ACC3"]
    assert len(found) == 4 and len(items) == 1
    item = fhir.get(_path(items[0]["fullUrl"])).json()
    assert item["subject"]["reference"] == f"Patient/{survivor}"
    account = fhir.get(_path(item["account"][0]["reference"])).json()
    assert account["subject"] == [{"reference": f"Patient/{survivor}"}]
    assert account["identifier"][0]["value"] == "ACC3"
    assert account["status"] == "active"


def test_unknown_ids_are_404_with_an_operation_outcome(fhir: FhirClient) -> None:
    _feed(fhir)
    for path in (
        "/fhir/Observation/00000000-0000-0000-0000-000000000000",
        "/fhir/Account/nope",
        "/fhir/ChargeItem/nope",
        "/fhir/ChargeItem/00000000-0000-0000-0000-000000000000-1",
        "/fhir/ChargeItem/nope-x",
    ):
        response = fhir.get(path)
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["code"] == "not-found"


def test_the_capability_statement_lists_the_reads(fhir: FhirClient) -> None:
    statement = fhir.get("/fhir/metadata").json()
    by_type = {x["type"]: x for x in statement["rest"][0]["resource"]}
    for kind in ("Patient", "Encounter", "Observation", "ChargeItem", "Account"):
        assert "read" in {i["code"] for i in by_type[kind]["interaction"]}, kind
    valid(statement)


def test_xml_is_refused_alike_by_format_and_accept_with_406(fhir: FhirClient) -> None:
    _feed(fhir)
    patient_id = _patient_ids(fhir, "MRN1")[0]
    path = f"/fhir/Patient/{patient_id}"
    for query, accept in (
        ("?_format=xml", None),
        ("?_format=application/fhir+xml", None),
        ("", "application/fhir+xml"),
        ("?_format=xml", "application/fhir+json"),  # _format wins over Accept
        ("", "application/fhir+json;q=0, application/fhir+xml"),
    ):
        headers = {"Accept": accept} if accept else {"Accept": ""}
        response = fhir.request("GET", path + query, headers=headers)
        assert response.status_code == 406, (query, accept)
        assert valid(response.json())["resourceType"] == "OperationOutcome"
    for query, accept in (
        ("?_format=json", None),
        ("?_format=application/fhir+json", "application/fhir+xml"),
        ("", "application/fhir+json"),
        ("", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("", None),
    ):
        headers = {"Accept": accept} if accept else {"Accept": ""}
        response = fhir.request("GET", path + query, headers=headers)
        assert response.status_code == 200, (query, accept, response.text)
        assert response.json()["id"] == patient_id


def test_observation_tables_made_before_the_id_column_get_it_at_start(
    durable_store_url: str,
) -> None:
    """An older observations_v1 (no observation_id) is upgraded in place, no replay."""
    first = open_client(durable_store_url)
    fhir = next(first)
    _feed(fhir)
    patient_id = _patient_ids(fhir, "MRN1")[0]
    expected = fhir.get(f"/fhir/Observation?patient={patient_id}").json()["entry"]
    with fhir.engine.views["observations"].datastore.transaction(commit=True) as c:
        c.execute("DROP INDEX observations_v1_id")
        c.execute("ALTER TABLE observations_v1 DROP COLUMN observation_id")
    first.close()
    second = open_client(durable_store_url)
    again = next(second)
    try:
        for entry in expected:
            response = again.get(_path(entry["fullUrl"]))
            assert response.status_code == 200, response.text
            assert response.json()["id"] == entry["resource"]["id"]
    finally:
        second.close()


def test_include_adds_the_subject_once_and_total_counts_matches(fhir: FhirClient) -> None:
    _feed(fhir)
    survivor, retired = _patient_ids(fhir, "MRN1", "MRN3")
    for kind in ("Encounter", "Observation"):
        body = fhir.get(f"/fhir/{kind}?patient={retired}&_include={kind}:patient").json()
        modes = [e["search"]["mode"] for e in body["entry"]]
        included = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "include"]
        assert body["total"] == modes.count("match") > 0, kind
        assert [(p["resourceType"], p["id"]) for p in included] == [("Patient", survivor)], kind
        plain = fhir.get(f"/fhir/{kind}?patient={retired}").json()
        assert {e["search"]["mode"] for e in plain["entry"]} == {"match"}
        refused = fhir.get(f"/fhir/{kind}?patient={retired}&_include={kind}:encounter")
        assert refused.status_code == 400
        assert valid(refused.json())["issue"][0]["code"] == "not-supported"


def test_everything_is_the_patient_then_their_compartment(fhir: FhirClient) -> None:
    _feed(fhir)
    survivor, other = _patient_ids(fhir, "MRN1", "MRN2")
    body = valid(fhir.get(f"/fhir/Patient/{survivor}/$everything").json())
    kinds = [e["resource"]["resourceType"] for e in body["entry"]]
    assert kinds[0] == "Patient" and body["entry"][0]["resource"]["id"] == survivor
    assert sorted(kinds) == sorted(
        ["Patient", "Encounter", "Encounter", "Observation", "Observation", "Account", "Account"]
        + ["ChargeItem"] * 4
        + ["DiagnosticReport"]
    )
    assert body["total"] == len(kinds)
    subjects = {
        ref["reference"] for e in body["entry"][1:] for ref in _listed(e["resource"]["subject"])
    }
    assert subjects == {f"Patient/{survivor}"}
    assert other not in str(body)
    assert fhir.get("/fhir/Patient/nobody/$everything").status_code == 404
    assert fhir.get(f"/fhir/Patient/{survivor}/$everything?_since=2024").status_code == 400


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _codes(fhir: FhirClient, patient_id: str, query: str) -> list[str]:
    response = fhir.get(f"/fhir/Observation?patient={patient_id}&{query}")
    assert response.status_code == 200, response.text
    body = valid(response.json())
    entries = body.get("entry", [])  # absent when nothing matched
    assert body["total"] == len(entries)
    return sorted(e["resource"]["code"]["coding"][0]["code"] for e in entries)


def test_observations_filter_by_code_status_and_date(fhir: FhirClient) -> None:
    _feed(fhir)
    patient_id = _patient_ids(fhir, "MRN1")[0]
    assert _codes(fhir, patient_id, "code=http://loinc.org|2345-7") == ["2345-7"]
    assert _codes(fhir, patient_id, "code=2951-2") == ["2951-2"]
    assert _codes(fhir, patient_id, "code=2345-7,2951-2") == ["2345-7", "2951-2"]
    assert _codes(fhir, patient_id, "code=http://loinc.org|") == ["2345-7", "2951-2"]
    assert _codes(fhir, patient_id, "code=urn:other|2345-7") == []
    assert _codes(fhir, patient_id, "code=|2345-7") == []  # it has a system
    assert _codes(fhir, patient_id, "status=final") == ["2345-7", "2951-2"]
    assert _codes(fhir, patient_id, "status=preliminary,corrected") == []
    assert _codes(fhir, patient_id, "date=2024-01-01") == ["2345-7", "2951-2"]
    assert _codes(fhir, patient_id, "date=2024") == ["2345-7", "2951-2"]
    assert _codes(fhir, patient_id, "date=lt2024-01-01") == []
    assert _codes(fhir, patient_id, "date=ge2024-01&code=2951-2") == ["2951-2"]
    for bad in ("status=done", "date=2024-01-01T10:00", "date=ap2024", "code=", "value=1"):
        response = fhir.get(f"/fhir/Observation?patient={patient_id}&{bad}")
        assert response.status_code == 400, bad
        assert valid(response.json())["resourceType"] == "OperationOutcome"
