"""PID's other names, addresses, telecom and death: parsed in every version, kept once in the
events, updated only when sent; events stored before (version 1) still load."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import StoredEvent

from engine.application.cache import project
from engine.application.ingestion import Ingestion
from engine.domain.patient import Patient
from engine.domain.values import Address, Coded, ContactPoint, PatientDetails, PersonName
from tests.messages import VERSIONS
from tests.unit.test_adt_scenarios import PATIENT, send

_FIELDS = {
    3: "MRN1^^^HOSP^MR~900-11-2222^^^SSA^SS",
    5: "DOE^JANE^Q^^DR^^L~SMITH^JANE^^^^^M~JJ^^^^^^N",
    7: "19800101",
    8: "F",
    11: "1 MAIN ST^APT 2^SPRINGFIELD^IL^62701^USA^H~PO BOX 9^^SPRINGFIELD^IL^62705^^M",
    13: "555-0100^PRN^PH~^NET^Internet^jane@example.org",
    14: "^WPN^PH^^1^217^5550199^12",
    15: "EN^English^ISO639",
    16: "M^Married^HL70002",
    24: "Y",
    25: "2",
    29: "20240301083000",
    30: "Y",
}
PID_FULL = "PID|1" + "".join(f"|{_FIELDS.get(n, '')}" for n in range(2, 31))


def _adt(trigger: str, control_id: str, pid: str, version: str = "2.5.1") -> bytes:
    msh9 = f"ADT^{trigger}" if version == "2.3" else f"ADT^{trigger}^ADT_A01"
    segments = [
        f"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|20240301090000||{msh9}|{control_id}|P|{version}",
        f"EVN|{trigger}|20240301090000",
        pid,
    ]
    return ("\r".join(segments) + "\r").encode()


EXPECTED = PatientDetails(
    other_names=(PersonName("SMITH", "JANE", use="M"), PersonName("JJ", use="N")),
    addresses=(
        Address("1 MAIN ST", "APT 2", "SPRINGFIELD", "IL", "62701", "USA", "H"),
        Address("PO BOX 9", "", "SPRINGFIELD", "IL", "62705", "", "M"),
    ),
    telecom=(
        ContactPoint("555-0100", "PRN", "PH"),
        ContactPoint("jane@example.org", "NET", "Internet"),
        ContactPoint("+1 217 5550199 x12", "WPN", "PH"),
    ),
    deceased="Y",
    deceased_at=datetime(2024, 3, 1, 8, 30, tzinfo=UTC),
    language=Coded("EN", "English", "ISO639"),
    marital_status=Coded("M", "Married", "HL70002"),
    multiple_birth="Y",
    birth_order="2",
)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_repetition_reaches_the_event(app: Ingestion, version: str) -> None:
    assert send(app, _adt("A08", "1", PID_FULL, version)) == ("AA", ["Patient.Registered"])
    patient = app.repository.get(PATIENT)
    assert patient.name == PersonName("DOE", "JANE", "Q", "", "DR", "L")
    assert patient.details == EXPECTED
    assert len(patient.identifiers) == 2


def test_an_update_without_details_keeps_them_and_one_with_changes_them(app: Ingestion) -> None:
    send(app, _adt("A08", "1", PID_FULL))
    bare = "PID|1||MRN1^^^HOSP^MR||DOE^JANE^Q^^DR^^L||19800101|F"
    assert send(app, _adt("A08", "2", bare)) == ("AA", [])  # nothing sent, nothing changes
    moved = bare + "|||9 ELM RD^^CHAMPAIGN^IL^61820^^H"
    assert send(app, _adt("A08", "3", moved)) == ("AA", ["Patient.DemographicsUpdated"])
    details = app.repository.get(PATIENT).details
    assert details.addresses == (Address("9 ELM RD", "", "CHAMPAIGN", "IL", "61820", "", "H"),)
    assert details.telecom == EXPECTED.telecom  # not sent: kept


def _as_version_1(app: Ingestion, stored: StoredEvent) -> StoredEvent:
    """The event as the first release stored it: no ``details`` (nor ``cleared``), no
    class_version."""
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") in (2, 3)  # Registered 2, DemographicsUpdated 3
    del state["details"]
    state.pop("cleared", None)
    encoded = app.mapper.transcoder.encode(state)
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, encoded)


def test_patient_events_stored_before_details_still_load(app: Ingestion) -> None:
    send(app, _adt("A08", "1", PID_FULL))
    send(app, _adt("A08", "2", PID_FULL.replace("DOE^JANE^Q", "DOE^JANET^Q")))
    old = []
    for n in app.recorder.select_notifications(1, 100):
        event = app.mapper.to_domain_event(n)
        if isinstance(event, Patient.Registered | Patient.DemographicsUpdated):
            v1 = app.mapper.to_domain_event(_as_version_1(app, n))
            assert type(v1) is type(event) and v1.details == PatientDetails()
            assert (v1.name, v1.birth_date, v1.sex) == (event.name, event.birth_date, event.sex)
            old.append(v1)
    assert [type(e).__name__ for e in old] == ["Registered", "DemographicsUpdated"]
    rebuilt = project(tuple(old))  # the same fold ingestion rebuilds aggregates with
    assert rebuilt is not None
    assert rebuilt.name.given == "JANET" and rebuilt.details == PatientDetails()
