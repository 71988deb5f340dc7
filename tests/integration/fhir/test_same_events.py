"""A FHIR write and an HL7 v2 message with the same content give the same domain events.

Both go through the same decision functions (engine/application/decisions.py);
this checks it end to end, from the translators to the stored events. Ids are
derived from identifiers on both paths, so they are compared too; what differs
by nature (the source each event points at, when it was received) is left out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.fhir.requests import read_bundle
from adapters.fhir.writes import decide_entries
from engine.application.ingestion import Ingestion
from engine.application.sources import ReceivedSource
from engine.domain.message import InboundMessage
from tests.fakes import FakeMessageValidator, FixedClock
from tests.integration.fhir import resources as r
from tests.messages import adt, segment

V2 = "http://terminology.hl7.org/CodeSystem/v2-"
_IGNORED = {"occurred_at", "source_message_id", "timestamp"}


def _ingestion() -> Ingestion:
    return Ingestion(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        validator=FakeMessageValidator(),
        clock=FixedClock(),
    )


def _events(app: Ingestion) -> list[tuple[Any, ...]]:
    """Every stored domain event but the received sources, as comparable tuples."""
    out = []
    for n in app.recorder.select_notifications(start=1, limit=10_000):
        event = app.mapper.to_domain_event(n)
        if isinstance(event, InboundMessage.Received):
            continue
        state = {k: v for k, v in vars(event).items() if k not in _IGNORED}
        out.append((type(event).__qualname__, sorted(state.items(), key=lambda kv: kv[0])))
    return out


def _v2(*messages: bytes) -> list[tuple[Any, ...]]:
    app = _ingestion()
    for m in messages:
        outcome = app.ingest(m, "test")
        assert outcome.ack_code == "AA", outcome.text
    return _events(app)


def _fhir(*bundles: dict[str, Any]) -> list[tuple[Any, ...]]:
    app = _ingestion()
    for i, data in enumerate(bundles):
        _, _, entries = read_bundle(data)
        source = ReceivedSource.of(
            str(i).encode(), kind="FHIR transaction", version="4.0.1", sender="t", channel="fhir"
        )
        recorded = app.record(source, decide_entries(entries, atomic=True))
        assert recorded.result is not None
        assert all(e.error is None for e in recorded.result)
    return _events(app)


def _tx(*resources: dict[str, Any], method: str = "POST") -> dict[str, Any]:
    return r.bundle(*(r.entry(x, method=method, url=_url(x, method)) for x in resources))


def _url(resource: dict[str, Any], method: str) -> str:
    kind = resource["resourceType"]
    if method == "POST":
        return kind
    ident = resource["identifier"][0]
    return f"{kind}?identifier={ident['system']}|{ident['value']}"


# The FHIR Patient with the content of PID|1||MRN1^^^HOSP^MR||DOE^JANE||19800131|F.
PATIENT = {**r.patient(), "name": [{"family": "DOE", "given": ["JANE"]}]}
WARD1 = "WARD1^101^A^HOSP"


def _visit(status: str, location: str = WARD1, **extra: Any) -> dict[str, Any]:
    return r.encounter("V1", status, point_of_care=location, klass="IMP", **extra)


def _adt(trigger: str, control: str, **fields: Any) -> bytes:
    return adt(trigger, control, birth="19800131", location=fields.pop("location", WARD1), **fields)


def test_a_patient_gives_the_events_of_an_a08() -> None:
    assert _fhir(_tx(PATIENT)) == _v2(_adt("A08", "1", pv1=False))
    changed = {**PATIENT, "birthDate": "1980-02-01"}
    assert _fhir(_tx(PATIENT), _tx(changed, method="PUT")) == _v2(
        _adt("A08", "1", pv1=False), adt("A08", "2", birth="19800201", pv1=False)
    )


def test_encounter_states_give_the_events_of_the_visit_triggers() -> None:
    transferred = _visit("in-progress", location="WARD2^201^B^HOSP")
    finished = {
        **transferred,
        "status": "finished",
        "period": {"end": "2024-01-01T15:00:00+00:00"},
    }
    fhir = _fhir(
        _tx(PATIENT, _visit("planned")),
        _tx(_visit("in-progress"), method="PUT"),
        _tx(transferred, method="PUT"),
        _tx(finished, method="PUT"),
    )
    v2 = _v2(
        _adt("A05", "1"),
        _adt("A01", "2"),
        _adt("A02", "3", location="WARD2^201^B^HOSP"),
        _adt("A03", "4", location="WARD2^201^B^HOSP", discharge_time="20240101150000"),
    )
    assert [name for name, _ in fhir] == [name for name, _ in v2]
    assert fhir == v2


def test_a_cancelled_visit_gives_an_a11() -> None:
    fhir = _fhir(_tx(PATIENT, _visit("in-progress")), _tx(_visit("cancelled"), method="PUT"))
    assert fhir == _v2(_adt("A01", "1"), _adt("A11", "2"))


def _oru() -> bytes:
    segments = [
        "MSH|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101130000||ORU^R01^ORU_R01|9|P|2.5.1",
        "PID|1||MRN1^^^HOSP^MR||DOE^JANE||19800131|F",
        segment("OBR", {1: "1", 3: "ORD1", 4: "2345-7^Glucose^LN", 7: "20240101100000", 25: "F"}),
        segment(
            "OBX",
            {
                1: "1",
                2: "NM",
                3: "2345-7^Glucose^LN",
                5: "5.4",
                6: "mmol/L",
                11: "F",
                14: "20240101100000",
            },
        ),
    ]
    return ("\r".join(segments) + "\r").encode()


def test_an_observation_gives_the_events_of_an_oru() -> None:
    observation = r.observation()
    observation["valueQuantity"] = {"value": Decimal("5.4"), "unit": "mmol/L"}
    assert _fhir(_tx(PATIENT, observation)) == _v2(_oru())


def test_the_events_are_not_equal_when_the_content_differs() -> None:
    """The comparison above can fail: another name is another event."""
    other = {**PATIENT, "name": [{"family": "ROE", "given": ["JANE"]}]}
    assert _fhir(_tx(other)) != _v2(_adt("A08", "1", pv1=False))


def test_an_emergency_visit_admitted_gives_the_events_of_an_a04_then_a01() -> None:
    """EMER -> IMP with a new location is the admission of the visit, as A01 after A04."""
    emergency = r.encounter("V1", "in-progress", point_of_care="ED", klass="EMER")
    admitted = {
        **_visit("in-progress"),
        "period": {"start": "2024-01-01T14:00:00+00:00"},
    }
    fhir = _fhir(_tx(PATIENT, emergency), _tx(admitted, method="PUT"))
    v2 = _v2(
        _adt("A04", "1", patient_class="E", location="ED"),
        _adt("A01", "2", admit_time="20240101140000", prior_location="ED"),
    )
    assert [name for name, _ in v2][-1] == "Encounter.InpatientAdmitted"
    assert fhir == v2


def test_a_patient_with_details_gives_the_events_of_the_same_pid() -> None:
    """Other names, address, telecom and death: one mapping each way (fhir_person.py)."""
    patient = {
        **r.patient(),
        "name": [
            {"use": "official", "family": "DOE", "given": ["JANE"]},
            {"use": "maiden", "family": "SMITH", "given": ["JANE"]},
        ],
        "address": [{"use": "home", "line": ["1 MAIN ST"], "city": "SPRINGFIELD"}],
        "telecom": [
            {"system": "phone", "value": "555-0100", "use": "home"},
            {"system": "phone", "value": "555-0199", "use": "mobile"},
            {"system": "email", "value": "jane@example.org"},
        ],
        "deceasedDateTime": "2024-03-01T08:30:00+00:00",
        "maritalStatus": {"coding": [{"system": f"{V2}0002", "code": "M", "display": "Married"}]},
        "multipleBirthInteger": 2,
    }
    pid = (
        "PID|1||MRN1^^^HOSP^MR||DOE^JANE^^^^^L~SMITH^JANE^^^^^M||19800131|F|||"
        "1 MAIN ST^^SPRINGFIELD^^^^H||"
        "555-0100^PRN^PH~555-0199^PRN^CP~^NET^Internet^jane@example.org"
        + "|||M^Married^HL70002"
        + "|" * 8
        + "Y|2"
        + "|" * 4
        + "20240301083000|Y"
    )
    v2 = (
        "MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|20240101120000||ADT^A08^ADT_A01|1|P|2.5.1\r"
        f"EVN|A08|20240101120000\r{pid}\r"
    ).encode()
    fhir = _fhir(_tx(patient))
    assert fhir == _v2(v2)
    assert fhir != _fhir(_tx({**patient, "deceasedDateTime": "2024-03-02T08:30:00+00:00"}))


# PV1-7/8/9/17, PV1-10 and PV1-36 and the FHIR elements the read side gives them.
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def _participant(role: str, ident: str, display: str) -> dict[str, Any]:
    return {
        "type": [{"coding": [{"system": _PARTICIPATION, "code": role}]}],
        "individual": {"identifier": {"value": ident}, "display": display},
    }


_PEOPLE = {
    "participant": [
        # Sent out of PV1's order: the write puts them in it (7, 8, 9, 17), as v2 does.
        _participant("ADM", "D300", "GREG HOUSE"),
        _participant("ATND", "D300", "GREG HOUSE"),
        _participant("CON", "D400", "CHASE, ROB"),
        _participant("REF", "D200", "TOM REED"),
    ],
    "serviceType": {"coding": [{"system": f"{V2}0069", "code": "MED"}]},
}
_PV1_PEOPLE = {7: "D300^HOUSE^GREG", 8: "D200^REED^TOM", 9: "D400^CHASE^ROB", 10: "MED"}
_PV1_PEOPLE[17] = _PV1_PEOPLE[7]


def test_participants_and_service_give_the_events_of_pv1_7_to_17() -> None:
    """A new visit with participants and a service: the A01 with PV1-7/8/9/10/17."""
    from tests.unit.test_encounter_details import with_pv1

    fhir = _fhir(_tx(PATIENT, _visit("in-progress", **_PEOPLE)))
    v2 = _v2(with_pv1(_adt("A01", "1"), _PV1_PEOPLE))
    assert fhir == v2
    assert fhir != _fhir(_tx(PATIENT, _visit("in-progress")))  # participants are in the event


def test_a_changed_attending_gives_the_events_of_an_a08_with_pv1() -> None:
    """A PUT naming another attending doctor is an A08 whose PV1-7 names them; a PUT
    that finishes the visit with a disposition is an A03 with PV1-36."""
    from tests.unit.test_encounter_details import with_pv1

    new_doctor = {
        **_PEOPLE,
        "participant": [_participant("ATND", "D500", "MEREDITH GREY")],
    }
    finished = {
        **_visit("finished", **new_doctor),
        "period": {"end": "2024-01-01T15:00:00+00:00"},
        "hospitalization": {"dischargeDisposition": {"coding": [{"code": "01"}]}},
    }
    fhir = _fhir(
        _tx(PATIENT, _visit("in-progress", **_PEOPLE)),
        _tx(_visit("in-progress", **new_doctor), method="PUT"),
        _tx(finished, method="PUT"),
    )
    v2 = _v2(
        with_pv1(_adt("A01", "1"), _PV1_PEOPLE),
        with_pv1(_adt("A08", "2"), {7: "D500^GREY^MEREDITH"}),
        with_pv1(_adt("A03", "3", discharge_time="20240101150000"), {36: "01"}),
    )
    assert [name for name, _ in v2] == [
        "Patient.Registered",
        "Encounter.Admitted",
        "Encounter.DetailsUpdated",
        "Encounter.Discharged",
    ]
    assert fhir == v2
