"""FHIR Encounter writes of participants, serviceType and dischargeDisposition, read back
through the read model and ``GET /fhir/Encounter``, on SQLite and PostgreSQL.

tests/integration/fhir/test_same_events.py shows the events are those of the
PV1 with the same content; this shows what a client sees and what is refused.
"""

from __future__ import annotations

from typing import Any

from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient

V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V2 = "http://terminology.hl7.org/CodeSystem/v2-"
PATH = "/fhir/Encounter?identifier=urn:carelog:assigning-authority:HOSP|V1"


def _participant(role: str, ident: str, display: str) -> dict[str, Any]:
    return {
        "type": [{"coding": [{"system": V3, "code": role}]}],
        "individual": {"identifier": {"value": ident}, "display": display},
    }


def _read(fhir: FhirClient, encounter_id: str) -> dict[str, Any]:
    fhir.catch_up()
    response = fhir.get(f"/fhir/Encounter/{encounter_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _people(resource: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            p["type"][0]["coding"][0]["code"],
            p["individual"]["identifier"]["value"],
            p["individual"]["display"],
        )
        for p in resource.get("participant", [])
    ]


def test_participants_service_and_disposition_are_written_and_read(fhir: FhirClient) -> None:
    assert fhir.post("/fhir/Patient", r.patient()).status_code == 201
    visit = r.encounter(
        klass="IMP",
        point_of_care="WARD1",
        participant=[_participant("ATND", "D300", "GREG HOUSE")],
        serviceType={"coding": [{"system": f"{V2}0069", "code": "MED"}]},
        period={"start": "2024-01-01T08:00:00+00:00"},
    )
    created = fhir.put(PATH, visit)
    assert created.status_code == 201, created.text
    encounter_id = created.json()["id"]
    read = _read(fhir, encounter_id)
    assert _people(read) == [("ATND", "D300", "GREG HOUSE")]
    assert read["serviceType"]["coding"][0]["code"] == "MED"

    # Another attending and a referrer; the service not sent stays as it was.
    changed = {
        **visit,
        "participant": [
            _participant("REF", "D200", "TOM REED"),
            _participant("ATND", "D500", "MEREDITH GREY"),
        ],
    }
    del changed["serviceType"]
    assert fhir.put(PATH, changed).status_code == 200
    read = _read(fhir, encounter_id)
    assert _people(read) == [("ATND", "D500", "MEREDITH GREY"), ("REF", "D200", "TOM REED")]
    assert read["serviceType"]["coding"][0]["code"] == "MED"

    finished = {
        **changed,
        "status": "finished",
        # No back-dated period.end: a location's stay starts when carelog was told
        # (docs/fhir-mapping.md), so an end before the write time would precede it.
        "hospitalization": {
            "dischargeDisposition": {"coding": [{"system": f"{V2}0112", "code": "01"}]}
        },
    }
    assert fhir.put(PATH, finished).status_code == 200
    read = _read(fhir, encounter_id)
    assert read["status"] == "finished"
    assert read["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "01"


def test_a_participant_type_with_no_pv1_field_is_refused_and_changes_nothing(
    fhir: FhirClient,
) -> None:
    assert fhir.post("/fhir/Patient", r.patient()).status_code == 201
    visit = r.encounter(participant=[_participant("PPRF", "D1", "ANN CASEY")])
    response = fhir.put(PATH, visit)
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert "PPRF" in issue["diagnostics"] and "PV1" in issue["diagnostics"]
    assert issue["expression"] == ["Encounter.participant[0].type"]
    fhir.catch_up()
    patient_id = fhir.get("/fhir/Patient?identifier=urn:carelog:assigning-authority:HOSP|MRN1")
    subject = patient_id.json()["entry"][0]["resource"]["id"]
    assert fhir.get(f"/fhir/Encounter?patient={subject}").json()["total"] == 0
