"""PID's other names, addresses, telecom and death in the patient read model and the FHIR
Patient read, on SQLite and PostgreSQL; an A08 without them keeps them."""

from __future__ import annotations

from typing import Any

from tests.integration.fhir.client import FhirClient
from tests.unit.test_patient_details import PID_FULL, _adt

MRN1 = "urn:carelog:assigning-authority:HOSP|MRN1"


def _patient(fhir: FhirClient) -> dict[str, Any]:
    fhir.catch_up()
    found = fhir.get(f"/fhir/Patient?identifier={MRN1}").json()
    assert found["total"] == 1
    patient_id = found["entry"][0]["resource"]["id"]
    response = fhir.get(f"/fhir/Patient/{patient_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_fhir_patient_shows_every_name_address_phone_and_the_death(fhir: FhirClient) -> None:
    assert fhir.engine.ingestion.ingest(_adt("A08", "1", PID_FULL), "t").ack_code == "AA"
    patient = _patient(fhir)
    assert [(n.get("use"), n["family"]) for n in patient["name"]] == [
        ("official", "DOE"),
        ("maiden", "SMITH"),
        ("nickname", "JJ"),
    ]
    home, mailing = patient["address"]
    assert home == {
        "use": "home",
        "line": ["1 MAIN ST", "APT 2"],
        "city": "SPRINGFIELD",
        "state": "IL",
        "postalCode": "62701",
        "country": "USA",
    }
    assert (mailing["type"], mailing["line"]) == ("postal", ["PO BOX 9"])
    assert patient["telecom"] == [
        {"system": "phone", "value": "555-0100", "use": "home"},
        {"system": "email", "value": "jane@example.org"},
        {"system": "phone", "value": "+1 217 5550199 x12", "use": "work"},
    ]
    assert patient["deceasedDateTime"].startswith("2024-03-01T08:30:00")
    assert patient["maritalStatus"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0002",
            "code": "M",
            "display": "Married",
        }
    ]
    assert patient["communication"][0]["language"]["coding"][0]["code"] == "en"
    assert patient["multipleBirthInteger"] == 2

    bare = "PID|1||MRN1^^^HOSP^MR||DOE^JANET^Q^^DR^^L||19800101|F"
    assert fhir.engine.ingestion.ingest(_adt("A08", "2", bare), "t").ack_code == "AA"
    updated = _patient(fhir)
    assert updated["name"][0]["given"] == ["JANET", "Q"]
    assert [n["family"] for n in updated["name"][1:]] == ["SMITH", "JJ"]  # not sent: kept
    assert updated["telecom"] == patient["telecom"]


def test_the_fhir_encounter_shows_participants_service_and_disposition(fhir: FhirClient) -> None:
    """ED visit admitted to the ward, then discharged: the read model and FHIR follow."""
    from tests.messages import adt
    from tests.unit.test_adt_scenarios import VISIT
    from tests.unit.test_encounter_details import ED_DOCTOR, WARD_DOCTOR, with_pv1

    ingest = fhir.engine.ingestion.ingest
    ed = with_pv1(adt("A04", "1", patient_class="E", location="ED^^^HOSP"), ED_DOCTOR)
    assert ingest(ed, "t").ack_code == "AA"
    assert ingest(with_pv1(adt("A01", "2"), WARD_DOCTOR), "t").ack_code == "AA"
    fhir.catch_up()
    encounter = fhir.get(f"/fhir/Encounter/{VISIT}").json()
    assert encounter["class"]["code"] == "IMP"
    roles = [(p["type"][0]["coding"][0]["code"], p["individual"]) for p in encounter["participant"]]
    assert roles[0] == ("ATND", {"identifier": {"value": "D300"}, "display": "GREG HOUSE"})
    assert [r for r, _ in roles] == ["ATND", "ATND", "CON", "ADM"]
    assert encounter["serviceType"]["coding"][0]["code"] == "MED"
    assert ingest(with_pv1(adt("A03", "3"), {36: "01"}), "t").ack_code == "AA"
    fhir.catch_up()
    read = fhir.get(f"/fhir/Encounter/{encounter['id']}").json()
    assert read["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "01"
    assert read["serviceType"] == encounter["serviceType"]
