"""HL7's explicit null (``""``) deletes a PID or PV1 detail; an empty field changes nothing.

Each detail on its own: the A08 with ``""`` in that field is AA, its event
says what was cleared, the aggregate, the read model and the FHIR read drop
it and keep the others. Every version from 2.3 to 2.8: one A08 deleting them
all. Through the real validator, on SQLite and PostgreSQL (the ``fhir`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.domain.encounter import Encounter
from engine.domain.patient import Patient
from engine.domain.values import (
    ENCOUNTER_CLEARABLE,
    PATIENT_CLEARABLE,
    EncounterDetails,
    Participant,
)
from native import NativeMessageValidator
from tests.integration.fhir.client import FhirClient
from tests.messages import VERSIONS, adt
from tests.unit.test_adt_scenarios import PATIENT, VISIT
from tests.unit.test_encounter_details import with_pv1
from tests.unit.test_patient_details import _FIELDS, EXPECTED, PID_FULL
from tests.unit.test_patient_details import _adt as _pid_only

pytestmark = pytest.mark.native

NULL = '""'
MRN1 = "urn:carelog:assigning-authority:HOSP|MRN1"
# The PID field whose null deletes each detail (PID-5: a null repetition after the first).
PID_FIELD = {
    "other_names": 5,
    "addresses": 11,
    "home_telecom": 13,
    "business_telecom": 14,
    "language": 15,
    "marital_status": 16,
    "multiple_birth": 24,
    "birth_order": 25,
    "deceased_at": 29,
    "deceased": 30,
}
PV1_FIELD = {
    "participant:ATND": 7,
    "participant:REF": 8,
    "participant:CON": 9,
    "participant:ADM": 17,
    "service": 10,
    "disposition": 36,
}
PV1_FULL = {
    7: "D300^HOUSE^GREG",
    8: "D200^REED^TOM",
    9: "D400^CHASE^ROB",
    10: "MED",
    17: "D300^HOUSE^GREG",
    36: "01",
}
HOME, EMAIL, WORK = "555-0100", "jane@example.org", "+1 217 5550199 x12"


def _adt(trigger: str, control_id: str, pid: str, version: str = "2.5.1") -> bytes:
    """An A08 with ``pid`` and a PV1 naming no visit (the validator requires PV1)."""
    return _pid_only(trigger, control_id, pid, version) + b"PV1|1|I\r"


def _pid(fields: dict[int, str]) -> str:
    """PID|1 with MRN1 and DOE^JANE, plus ``fields``."""
    base = {3: _FIELDS[3], 5: "DOE^JANE^Q^^DR^^L", 7: "19800101", 8: "F", **fields}
    return "PID|1" + "".join(f"|{base.get(n, '')}" for n in range(2, max(base) + 1))


def _null_pid(*names: str) -> str:
    fields = {PID_FIELD[n]: NULL for n in names}
    if "other_names" in names:
        fields[5] = f"DOE^JANE^Q^^DR^^L~{NULL}"
    return _pid(fields)


def _ingest(fhir: FhirClient, message: bytes) -> None:
    outcome = fhir.engine.ingestion.ingest(message, "t")
    assert outcome.ack_code == "AA", [f.text for f in outcome.faults]


def _last_event(fhir: FhirClient) -> Any:
    recorder = fhir.engine.ingestion.recorder
    last = recorder.select_notifications(1, 10_000)[-1]
    return fhir.engine.ingestion.mapper.to_domain_event(last)


def _fhir_patient(fhir: FhirClient) -> dict[str, Any]:
    fhir.catch_up()
    found = fhir.get(f"/fhir/Patient?identifier={MRN1}").json()
    assert found["total"] == 1
    return dict(found["entry"][0]["resource"])


def _native(fhir: FhirClient) -> FhirClient:
    fhir.engine.ingestion.validator = NativeMessageValidator()
    return fhir


def _phones(resource: dict[str, Any]) -> list[str]:
    return [t["value"] for t in resource.get("telecom", [])]


# What the FHIR Patient shows once each detail is deleted (PID_FULL had them all).
SHOWN: dict[str, Callable[[dict[str, Any]], bool]] = {
    "other_names": lambda p: [n["family"] for n in p["name"]] == ["DOE"],
    "addresses": lambda p: "address" not in p,
    "home_telecom": lambda p: _phones(p) == [WORK],
    "business_telecom": lambda p: _phones(p) == [HOME, EMAIL],
    "language": lambda p: "communication" not in p,
    "marital_status": lambda p: "maritalStatus" not in p,
    # PID-25 (birth order) and PID-29 (death time) win over these in FHIR: unchanged there.
    "multiple_birth": lambda p: p.get("multipleBirthInteger") == 2,
    "birth_order": lambda p: p.get("multipleBirthBoolean") is True,
    "deceased_at": lambda p: p.get("deceasedBoolean") is True and "deceasedDateTime" not in p,
    "deceased": lambda p: str(p.get("deceasedDateTime")).startswith("2024-03-01T08:30"),
}


def test_every_clearable_detail_has_a_field_and_a_check() -> None:
    assert set(PID_FIELD) == set(PATIENT_CLEARABLE) == set(SHOWN)
    assert set(PV1_FIELD) == set(ENCOUNTER_CLEARABLE)


@pytest.mark.parametrize("name", PATIENT_CLEARABLE)
def test_a_null_pid_field_deletes_that_detail_only(fhir: FhirClient, name: str) -> None:
    _native(fhir)
    _ingest(fhir, _adt("A08", "1", PID_FULL))
    before = _fhir_patient(fhir)
    hidden = name in ("multiple_birth", "deceased")  # see SHOWN
    assert SHOWN[name](before) is hidden  # the check can fail: the detail is there before

    _ingest(fhir, _adt("A08", "2", _null_pid(name)))
    event = _last_event(fhir)
    assert isinstance(event, Patient.DemographicsUpdated)
    assert tuple(event.cleared) == (name,)
    wanted = EXPECTED.without((name,))
    assert event.details == wanted
    assert fhir.engine.ingestion.repository.get(PATIENT).details == wanted
    after = _fhir_patient(fhir)
    assert SHOWN[name](after)
    record = fhir.engine.views["patients"].get_patient(after["id"])
    assert record is not None and record.details == wanted

    # Empty is "not sent"; null again deletes nothing more: no event either way.
    count = len(fhir.engine.ingestion.recorder.select_notifications(1, 10_000))
    _ingest(fhir, _adt("A08", "3", _pid({})))
    _ingest(fhir, _adt("A08", "4", _null_pid(name)))
    events = fhir.engine.ingestion.recorder.select_notifications(count + 1, 100)
    assert [n.topic.rsplit(":", 1)[1] for n in events] == ["InboundMessage.Received"] * 2


@pytest.mark.parametrize("version", VERSIONS)
def test_one_a08_deletes_every_pid_detail_in_each_version(fhir: FhirClient, version: str) -> None:
    _native(fhir)
    _ingest(fhir, _adt("A08", "1", PID_FULL, version))
    assert fhir.engine.ingestion.repository.get(PATIENT).details == EXPECTED  # kept first
    _ingest(fhir, _adt("A08", "2", _null_pid(*PATIENT_CLEARABLE), version))
    event = _last_event(fhir)
    assert set(event.cleared) == set(PATIENT_CLEARABLE)
    assert fhir.engine.ingestion.repository.get(PATIENT).details == EXPECTED.without(
        PATIENT_CLEARABLE
    )
    patient = _fhir_patient(fhir)
    gone = ("address", "telecom", "communication", "maritalStatus", "multipleBirthInteger")
    assert not set(gone) & set(patient)
    assert not any(k.startswith(("deceased", "multipleBirth")) for k in patient)
    assert len(patient["name"]) == 1


def test_a_null_then_new_values_replace_the_telecom(fhir: FhirClient) -> None:
    """``""`` in PID-13 with a new work number in PID-14: only the new number is left."""
    _native(fhir)
    _ingest(fhir, _adt("A08", "1", PID_FULL))
    _ingest(fhir, _adt("A08", "2", _pid({13: NULL, 14: "555-0142^WPN^PH"})))
    assert _phones(_fhir_patient(fhir)) == ["555-0142"]


# --- PV1 --------------------------------------------------------------------------------


def _visit_details() -> EncounterDetails:
    return _details_of(PV1_FULL)


def _details_of(fields: dict[int, str]) -> EncounterDetails:
    """The EncounterDetails a PV1 with ``fields`` gives (read_xcn's order of roles)."""
    people = []
    for field, role in ((7, "ATND"), (8, "REF"), (9, "CON"), (17, "ADM")):
        if value := fields.get(field, ""):
            ident, family, given = value.split("^")
            people.append(Participant(role, ident, family, given))
    return EncounterDetails(tuple(people), fields.get(10, ""), fields.get(36, ""))


def _fhir_encounter(fhir: FhirClient) -> dict[str, Any]:
    fhir.catch_up()
    response = fhir.get(f"/fhir/Encounter/{VISIT}")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("name", ENCOUNTER_CLEARABLE)
def test_a_null_pv1_field_in_an_a08_deletes_that_detail(fhir: FhirClient, name: str) -> None:
    _native(fhir)
    _ingest(fhir, with_pv1(adt("A01", "1"), PV1_FULL))
    _ingest(fhir, with_pv1(adt("A08", "2"), {PV1_FIELD[name]: NULL}))
    event = _last_event(fhir)
    assert isinstance(event, Encounter.DetailsUpdated)
    assert tuple(event.cleared) == (name,)
    wanted = _visit_details().without((name,))
    assert event.details == wanted != _visit_details()
    encounter = _fhir_encounter(fhir)
    record = fhir.engine.views["encounters"].encounter(encounter["id"])
    assert record is not None and record.details == wanted
    roles = [p["type"][0]["coding"][0]["code"] for p in encounter.get("participant", [])]
    assert roles == [p.role for p in wanted.participants]
    assert ("serviceType" in encounter) == (name != "service")
    assert ("hospitalization" in encounter) == (name != "disposition")


@pytest.mark.parametrize("version", VERSIONS)
def test_an_a08_replaces_and_deletes_pv1_details_in_each_version(
    fhir: FhirClient, version: str
) -> None:
    _native(fhir)
    _ingest(fhir, with_pv1(adt("A01", "1", version=version), PV1_FULL))
    assert _last_event(fhir).details == _visit_details()  # kept first
    # A new attending (replaces), nulls for the rest, the service left empty (kept).
    update = {7: "D500^GREY^MEREDITH", 8: NULL, 9: NULL, 17: NULL, 36: NULL}
    _ingest(fhir, with_pv1(adt("A08", "2", version=version), update))
    event = _last_event(fhir)
    assert set(event.cleared) == {
        "participant:REF",
        "participant:CON",
        "participant:ADM",
        "disposition",
    }
    assert event.details == _details_of({7: update[7], 10: "MED"})
    encounter = _fhir_encounter(fhir)
    assert [p["individual"]["display"] for p in encounter["participant"]] == ["MEREDITH GREY"]
    assert encounter["serviceType"]["coding"][0]["code"] == "MED"
    assert "hospitalization" not in encounter


def test_an_a08_for_a_visit_not_known_updates_the_patient_only(fhir: FhirClient) -> None:
    _native(fhir)
    _ingest(fhir, _adt("A08", "1", PID_FULL))
    _ingest(fhir, with_pv1(adt("A08", "2", visit="V404"), {7: "D500^GREY^MEREDITH"}))
    assert fhir.get("/fhir/Encounter?patient=" + _fhir_patient(fhir)["id"]).json()["total"] == 0


def test_a_null_in_the_admission_of_an_ed_visit_drops_the_ed_doctor(fhir: FhirClient) -> None:
    """A01 on an A04 (class E) visit admits it; its ``""`` in PV1-8 deletes the referrer."""
    _native(fhir)
    ed = with_pv1(adt("A04", "1", patient_class="E", location="ED"), {7: "D100^CASEY^ANN"})
    _ingest(fhir, with_pv1(ed, {8: "D200^REED^TOM"}))
    _ingest(fhir, with_pv1(adt("A01", "2"), {8: NULL}))
    event = _last_event(fhir)
    assert isinstance(event, Encounter.InpatientAdmitted)
    assert event.details == _details_of({7: "D100^CASEY^ANN"})


@pytest.mark.parametrize(
    ("field", "name", "element"), [(7, "birth_date", "birthDate"), (8, "sex", "gender")]
)
def test_a_null_birth_date_or_sex_deletes_it(
    fhir: FhirClient, field: int, name: str, element: str
) -> None:
    """Not stored as the two characters ``""`` (what an A08 with PID-8 ``""`` did before)."""
    _native(fhir)
    _ingest(fhir, _adt("A08", "1", PID_FULL))
    assert element in _fhir_patient(fhir)
    _ingest(fhir, _adt("A08", "2", _pid({field: NULL})))
    event = _last_event(fhir)
    assert tuple(event.cleared) == (name,) and getattr(event, name) == ""
    assert event.details == EXPECTED  # the details were not touched
    patient = fhir.engine.ingestion.repository.get(PATIENT)
    assert getattr(patient, name) == ""
    assert element not in _fhir_patient(fhir)
