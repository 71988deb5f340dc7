"""Encounter, Observation, DiagnosticReport, ChargeItem and Account searches per parameter,
prefix and modifier, on SQLite and PostgreSQL, over a world the HL7 v2 feed made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.fhir.client import FhirClient
from tests.integration.read_models.billing_scenario import VISIT, ft1
from tests.messages import adt, dft, oru

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
HOSP = "urn:carelog:assigning-authority:HOSP"
GLUCOSE = {1: "1", 2: "NM", 3: "2345-7^Glucose^LN", 5: "5.4", 6: "mmol/L", 11: "F"}
SODIUM = {1: "2", 2: "NM", 3: "2951-2^Sodium^LN", 5: "140", 6: "mmol/L", 11: "F"}
HEMOGLOBIN = {1: "1", 2: "NM", 3: "718-7^Hemoglobin^LN", 5: "13.5", 6: "g/dL", 11: "P"}


def _cbc(raw: bytes) -> bytes:
    """The ORU as a CBC observed on 2024-03-01 (the template's panel is a lipid panel)."""
    return raw.replace(b"24331-1^Lipid panel^LN", b"58410-2^CBC^LN").replace(
        b"20240101120000", b"20240301080000"
    )


MESSAGES = (
    adt("A01", "E1", mrn="MRN1", patient_class="E", location="ED^1^A^HOSP", visit="V1",
        admit_time="20240105100000"),
    adt("A01", "E2", mrn="MRN1", patient_class="I", location="WARD1^101^A^HOSP", visit="V2",
        admit_time="20240301100000", event_time="20240301100000"),
    adt("A03", "E3", mrn="MRN1", patient_class="I", location="WARD1^101^A^HOSP", visit="V2",
        admit_time="20240301100000", discharge_time="20240310120000",
        event_time="20240310120000"),
    adt("A01", "E4", mrn="MRN2", name="ROE^RICHARD", patient_class="O", location="CLINIC^2",
        visit="V3", admit_time="20240201090000"),
    oru("L1", [GLUCOSE, SODIUM], order="FL1", mrn="MRN1"),
    _cbc(oru("L2", [HEMOGLOBIN], order="FL2", status="P", mrn="MRN1")),
    oru("L3", [GLUCOSE], order="FL3", mrn="MRN2"),
    dft("D1", [ft1("T1", "CG", VISIT, "1", "10.00&USD", "20240105"),
               ft1("T2", "CD", VISIT, "1", "10.00&USD", "20240106"),
               ft1("T3", "CG", VISIT, "2", "30.00&USD", "20240107")],
        account="ACC1", visit="V1", mrn="MRN1"),
    dft("D2", [ft1("T4", "CG", VISIT, "1", "20.00&USD", "20240201")],
        account="ACC2", visit="V3", mrn="MRN2"),
)  # fmt: skip


@pytest.fixture
def world(fhir: FhirClient) -> dict[str, str]:
    for raw in MESSAGES:
        assert fhir.engine.ingestion.ingest(raw, "test").ack_code == "AA", raw
    fhir.catch_up()
    ids = {}
    for mrn in ("MRN1", "MRN2"):
        body = fhir.get(f"/fhir/Patient?identifier={mrn}").json()
        ids[mrn] = body["entry"][0]["resource"]["id"]
    return ids


def _bundle(fhir: FhirClient, query: str) -> dict[str, Any]:
    response = fhir.get(query)
    assert response.status_code == 200, (query, response.text)
    body = dict(response.json())
    assert body["resourceType"] == "Bundle"
    return body


def _matches(fhir: FhirClient, query: str) -> list[dict[str, Any]]:
    body = _bundle(fhir, query)
    found = [e["resource"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]
    assert body["total"] == len(found)
    return found


def _visits(fhir: FhirClient, query: str) -> list[str]:
    return [r["identifier"][0]["value"] for r in _matches(fhir, f"/fhir/Encounter?{query}")]


def _utc_day(resource: dict[str, Any]) -> str:
    """The UTC day of a resource's ``meta.lastUpdated``."""
    stamp = datetime.fromisoformat(resource["meta"]["lastUpdated"])
    return stamp.astimezone(UTC).date().isoformat()


def test_last_updated_on_encounter_observation_and_diagnostic_report(
    fhir: FhirClient, world: dict[str, str]
) -> None:
    p1 = world["MRN1"]
    for kind in ("Encounter", "Observation", "DiagnosticReport"):
        every = _matches(fhir, f"/fhir/{kind}?patient={p1}")
        assert every, kind
        day = _utc_day(every[0])
        same = [r for r in every if _utc_day(r) == day]
        ids = sorted(r["id"] for r in same)
        base = f"/fhir/{kind}?patient={p1}&_lastUpdated="
        assert sorted(r["id"] for r in _matches(fhir, f"{base}{day}")) == ids
        later = {r["id"] for r in every if _utc_day(r) >= day}
        assert {r["id"] for r in _matches(fhir, f"{base}ge{day}")} == later >= set(ids)
        earlier = {r["id"] for r in every if _utc_day(r) < day}
        assert {r["id"] for r in _matches(fhir, f"{base}lt{day}")} == earlier
        assert (
            _matches(fhir, f"/fhir/{kind}?patient={p1}&_lastUpdated=gt{day}&_lastUpdated=lt{day}")
            == []
        )
        assert _matches(fhir, f"/fhir/{kind}?patient={p1}&_lastUpdated=gt2999") == []
        assert len(_matches(fhir, f"/fhir/{kind}?patient={p1}&_lastUpdated=lt2999")) == len(every)
        _refused(fhir, f"/fhir/{kind}?patient={p1}&_lastUpdated=ap2024")
        _refused(fhir, f"/fhir/{kind}?patient={p1}&_lastUpdated=soon")


def _refused(fhir: FhirClient, query: str) -> None:
    response = fhir.get(query)
    assert response.status_code == 400, (query, response.status_code)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["diagnostics"]


def test_encounter_searches(fhir: FhirClient, world: dict[str, str]) -> None:
    p1 = world["MRN1"]
    assert sorted(_visits(fhir, f"patient={p1}")) == ["V1", "V2"]
    assert sorted(_visits(fhir, f"subject=Patient/{p1}")) == ["V1", "V2"]
    assert _visits(fhir, f"patient={p1}&status=finished") == ["V2"]
    assert sorted(_visits(fhir, f"patient={p1}&status=finished,in-progress")) == ["V1", "V2"]
    assert _visits(fhir, f"patient={p1}&class=EMER") == ["V1"]
    act = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert _visits(fhir, f"patient={p1}&class={act}|IMP") == ["V2"]
    assert _visits(fhir, f"patient={p1}&class=|EMER") == []  # |code: no system
    assert _visits(fhir, f"patient={p1}&class=EMER&class=IMP") == []  # repeated: both
    assert sorted(_visits(fhir, f"patient={p1}&class=EMER,IMP")) == ["V1", "V2"]
    # date on the period: V1 2024-01-05 (still open), V2 2024-03-01 .. 2024-03-10
    assert _visits(fhir, f"patient={p1}&date=2024-03") == ["V2"]
    assert _visits(fhir, f"patient={p1}&date=2024-01") == []  # open: not within January
    assert _visits(fhir, f"patient={p1}&date=eq2024-03-05") == []  # longer than that day
    assert sorted(_visits(fhir, f"patient={p1}&date=ne2024-03")) == ["V1"]
    assert _visits(fhir, f"patient={p1}&date=lt2024-02") == ["V1"]
    assert sorted(_visits(fhir, f"patient={p1}&date=le2024-03-01")) == ["V1", "V2"]
    assert sorted(_visits(fhir, f"patient={p1}&date=gt2024-03-10")) == ["V1"]
    assert sorted(_visits(fhir, f"patient={p1}&date=ge2024-03-10")) == ["V1", "V2"]
    assert _visits(fhir, f"patient={p1}&date=ge2024-03-01&date=le2024-03-31") == ["V2", "V1"]
    assert _visits(fhir, f"patient={p1}&location=ED") == ["V1"]
    assert _visits(fhir, f"patient={p1}&location=WARD1^101^A^HOSP") == ["V2"]
    assert _visits(fhir, f"patient={p1}&location=WARD2") == []
    assert _visits(fhir, "identifier=V3") == ["V3"]
    assert _visits(fhir, f"identifier={HOSP}|V1") == ["V1"]
    assert _visits(fhir, "identifier=urn:other|V1") == []
    assert _visits(fhir, f"patient={p1}&identifier=V3") == []
    assert _visits(fhir, f"patient={p1}&_sort=date") == ["V1", "V2"]
    assert _visits(fhir, f"patient={p1}&_sort=-date") == ["V2", "V1"]
    for bad in ("status=done", "date=ap2024", "date=2024-13", "_sort=status", "class=",
                "identifier=", "name=x"):  # fmt: skip
        _refused(fhir, f"/fhir/Encounter?patient={p1}&{bad}")
    _refused(fhir, "/fhir/Encounter?status=finished")  # neither a patient nor a visit number


def _values(fhir: FhirClient, query: str) -> list[str]:
    found = _matches(fhir, f"/fhir/Observation?{query}")
    return [r["code"]["coding"][0]["code"] for r in found]


def test_observation_category_value_quantity_subject_and_sort(
    fhir: FhirClient, world: dict[str, str]
) -> None:
    p1 = world["MRN1"]
    everything = sorted(_values(fhir, f"patient={p1}"))
    assert everything == ["2345-7", "2951-2", "718-7"]
    category = "http://terminology.hl7.org/CodeSystem/observation-category"
    assert sorted(_values(fhir, f"subject=Patient/{p1}&category=laboratory")) == everything
    assert sorted(_values(fhir, f"patient={p1}&category={category}|laboratory")) == everything
    assert _values(fhir, f"patient={p1}&category=vital-signs") == []
    q = f"patient={p1}&value-quantity="
    assert _values(fhir, q + "5.4") == ["2345-7"]
    assert _values(fhir, q + "5.40") == ["2345-7"]  # [5.395, 5.405)
    assert _values(fhir, q + "5") == ["2345-7"]  # [4.5, 5.5)
    assert _values(fhir, q + "5.41") == []
    assert sorted(_values(fhir, q + "ne5.4")) == ["2951-2", "718-7"]
    assert _values(fhir, q + "lt6") == ["2345-7"]
    assert _values(fhir, q + "gt100") == ["2951-2"]
    assert sorted(_values(fhir, q + "ge13.5")) == ["2951-2", "718-7"]
    assert sorted(_values(fhir, q + "le13.5")) == ["2345-7", "718-7"]
    assert _values(fhir, q + f"140|{UCUM}|mmol/L") == ["2951-2"]
    assert _values(fhir, q + "140||mmol/L") == ["2951-2"]
    assert _values(fhir, q + f"140|{UCUM}|g/dL") == []
    assert sorted(_values(fhir, q + "5.4,13.5")) == ["2345-7", "718-7"]
    assert _values(fhir, q + "gt6&value-quantity=lt100") == ["718-7"]
    assert _values(fhir, f"patient={p1}&_sort=-date")[0] == "718-7"  # 2024-03-01, then January
    assert _values(fhir, f"patient={p1}&_sort=date")[-1] == "718-7"
    for bad in ("value-quantity=ap5", "value-quantity=five", "value-quantity=", "_sort=code",
                "category=", "value-quantity:missing=true"):  # fmt: skip
        _refused(fhir, f"/fhir/Observation?patient={p1}&{bad}")


def _orders(fhir: FhirClient, query: str) -> list[str]:
    found = _matches(fhir, f"/fhir/DiagnosticReport?{query}")
    return [r["identifier"][0]["value"] for r in found]


def test_diagnostic_reports_read_search_and_include_their_results(
    fhir: FhirClient, world: dict[str, str]
) -> None:
    p1 = world["MRN1"]
    assert _orders(fhir, f"patient={p1}") == ["FL1", "FL2"]
    assert _orders(fhir, f"subject=Patient/{world['MRN2']}") == ["FL3"]
    assert _orders(fhir, f"patient={p1}&code={LOINC}|58410-2") == ["FL2"]
    assert _orders(fhir, f"patient={p1}&code=24331-1") == ["FL1"]
    assert _orders(fhir, f"patient={p1}&code=urn:other|24331-1") == []
    assert _orders(fhir, f"patient={p1}&status=final") == ["FL1"]
    assert _orders(fhir, f"patient={p1}&status=preliminary,final") == ["FL1", "FL2"]
    assert _orders(fhir, f"patient={p1}&date=2024-03") == ["FL2"]
    assert _orders(fhir, f"patient={p1}&date=lt2024-02") == ["FL1"]
    assert _orders(fhir, f"patient={p1}&date=ge2024-01-01&date=le2024-01-31") == ["FL1"]
    assert _orders(fhir, f"patient={p1}&_sort=-date") == ["FL2", "FL1"]
    reports = _matches(fhir, f"/fhir/DiagnosticReport?patient={p1}")
    first = reports[0]
    assert first["status"] == "final" and first["subject"]["reference"] == f"Patient/{p1}"
    assert len(first["result"]) == 2
    for reference in (r["reference"] for report in reports for r in report["result"]):
        assert fhir.get(f"/fhir/{reference}").status_code == 200, reference
    read = fhir.get(f"/fhir/DiagnosticReport/{first['id']}")
    assert read.status_code == 200 and read.json()["result"] == first["result"]
    assert read.json()["meta"]["versionId"] and read.headers["ETag"]
    missing = fhir.get("/fhir/DiagnosticReport/nobody")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    body = _bundle(fhir, f"/fhir/DiagnosticReport?patient={p1}&_include=DiagnosticReport:result")
    included = [e for e in body["entry"] if e["search"]["mode"] == "include"]
    assert body["total"] == 2
    assert sorted(e["resource"]["code"]["coding"][0]["code"] for e in included) == [
        "2345-7",
        "2951-2",
        "718-7",
    ]
    assert all(e["fullUrl"].endswith(f"/Observation/{e['resource']['id']}") for e in included)
    for bad in ("status=done", "_include=DiagnosticReport:patient", "date=sa2024",
                "_sort=status", "category=LAB"):  # fmt: skip
        _refused(fhir, f"/fhir/DiagnosticReport?patient={p1}&{bad}")


def _items(fhir: FhirClient, query: str) -> list[str]:
    found = _matches(fhir, f"/fhir/ChargeItem?{query}")
    return sorted(r["identifier"][0]["value"] for r in found)


def test_charge_item_and_account_searches(fhir: FhirClient, world: dict[str, str]) -> None:
    p1 = world["MRN1"]
    assert _items(fhir, f"patient={p1}") == ["T1", "T2", "T3"]
    assert _items(fhir, f"subject=Patient/{p1}&status=entered-in-error") == ["T1", "T2"]
    assert _items(fhir, f"patient={p1}&status=billable") == ["T3"]
    assert _items(fhir, f"patient={p1}&identifier=T3") == ["T3"]
    assert _items(fhir, f"patient={p1}&identifier=|T3,T1") == ["T1", "T3"]
    assert _items(fhir, f"patient={p1}&identifier=urn:other|T3") == []
    assert _items(fhir, f"patient={p1}&identifier=T4") == []  # another patient's
    for bad in ("status=paid", "identifier=", "code=99213"):
        _refused(fhir, f"/fhir/ChargeItem?patient={p1}&{bad}")

    def accounts(query: str) -> list[str]:
        return [r["identifier"][0]["value"] for r in _matches(fhir, f"/fhir/Account?{query}")]

    assert accounts(f"patient={p1}") == ["ACC1"]
    assert accounts(f"subject=Patient/{world['MRN2']}") == ["ACC2"]
    assert accounts("identifier=ACC2") == ["ACC2"]
    assert accounts("identifier=urn:carelog:account-number|ACC1") == ["ACC1"]
    assert accounts("identifier=urn:other|ACC1") == []
    assert accounts("identifier=NOPE") == []
    assert accounts(f"patient={p1}&status=active") == ["ACC1"]
    assert accounts(f"patient={p1}&status=inactive") == []
    for query in ("", "status=active", "status=open&identifier=ACC1", "name=ACC1"):
        _refused(fhir, f"/fhir/Account?{query}")
