from __future__ import annotations

from uuid import UUID

import pytest

from engine.application.ingestion import Ingestion
from engine.domain.encounter import Encounter
from engine.domain.ids import patient_id_for
from engine.domain.message import InboundMessage
from engine.domain.patient import Patient
from engine.domain.values import Identifier
from engine.ports import Fault
from projections.patients import MemoryPatientView, PatientProjection
from projections.runner import PollingProjectionRunner
from tests.conftest import sample
from tests.fakes import FakeMessageValidator, FixedClock

PATIENT = patient_id_for(Identifier("123456", "HOSP", "MR"))


def make_app(faults: tuple[Fault, ...] = (), **kwargs: object) -> Ingestion:
    return Ingestion(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        validator=FakeMessageValidator(faults),
        clock=FixedClock(),
        **kwargs,  # type: ignore[arg-type]
    )


def all_events(app: Ingestion) -> list[object]:
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 1000)]


def test_a01_registers_patient_and_admits_visit(adt_a01: bytes) -> None:
    app = make_app()
    outcome = app.ingest(adt_a01, "test")
    assert outcome.ack_code == "AA"
    events = all_events(app)
    kinds = [type(e) for e in events]
    assert kinds == [InboundMessage.Received, Patient.Registered, Encounter.Admitted]
    received, registered, admitted = events
    assert registered.originator_id == PATIENT
    assert [i.value for i in registered.identifiers] == ["123456", "987-65-4321"]
    assert registered.identifiers[0].authority == "HOSP"
    assert (registered.name.family, registered.name.given) == ("DOE", "JANE")
    assert (registered.birth_date, registered.sex) == ("1980-01-01", "F")
    assert registered.source_message_id == received.originator_id == outcome.message_id
    assert admitted.patient_id == PATIENT
    assert admitted.location.point_of_care == "WARD1"
    assert admitted.visit_number.value == "V0001"
    assert admitted.patient_class == "I"
    assert registered.occurred_at.isoformat() == "2024-01-01T12:00:00+00:00"
    assert received.raw.startswith("MSH|")


def test_resend_is_aa_and_adds_nothing(adt_a01: bytes) -> None:
    app = make_app()
    first = app.ingest(adt_a01)
    second = app.ingest(adt_a01)
    assert (first.ack_code, second.ack_code) == ("AA", "AA")
    assert second.duplicate and not first.duplicate
    assert len(all_events(app)) == 3


def test_same_control_id_from_another_sender_is_a_new_message(adt_a01: bytes) -> None:
    app = make_app()
    app.ingest(adt_a01)
    other = adt_a01.replace(b"|LAB|HOSP|", b"|LAB2|HOSP|", 1)
    outcome = app.ingest(other)
    assert outcome.ack_code == "AA" and not outcome.duplicate
    # Same patient and visit: only the message itself is new.
    assert [type(e) for e in all_events(app)][3:] == [InboundMessage.Received]


def test_a04_then_changed_demographics_updates_the_patient() -> None:
    app = make_app()
    raw = sample("adt_a04_v23_lf.hl7")
    assert app.ingest(raw).ack_code == "AA"
    changed = raw.replace(b"REG-0001", b"REG-0002").replace(b"ROE^RICHARD", b"ROE^RICK")
    changed = changed.replace(b"E2001", b"E2002")
    assert app.ingest(changed).ack_code == "AA"
    kinds = [type(e).__qualname__ for e in all_events(app)]
    assert kinds == [
        "InboundMessage.Received",
        "Patient.Registered",
        "Encounter.Registered",
        "InboundMessage.Received",
        "Patient.DemographicsUpdated",
        "Encounter.Registered",
    ]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(100, "MSH_NOT_FIRST", "no MSH", fatal=True), "AR"),
        (Fault(203, "UNSUPPORTED_VERSION", "2.9", "MSH", 1, 12), "AR"),
        (Fault(102, "BAD_DATETIME", "bad", "MSH", 1, 7), "AE"),
    ],
)
def test_validator_faults_decide_the_ack_and_store_nothing(
    adt_a01: bytes, fault: Fault, code: str
) -> None:
    app = make_app((fault,))
    outcome = app.ingest(adt_a01)
    assert outcome.ack_code == code
    assert outcome.faults == (fault,)
    assert all_events(app) == []


def test_warnings_alone_do_not_reject(adt_a01: bytes) -> None:
    app = make_app((Fault(102, "BLANK_LINE", "blank line", severity="W"),))
    assert app.ingest(adt_a01).ack_code == "AA"


@pytest.mark.parametrize(
    ("edit", "code", "err"),
    [
        ((b"ADT^A01^ADT_A01", b"ADT^A99^ADT_A01"), "AR", 201),
        ((b"ADT^A01^ADT_A01", b"ORM^O01^ORM_O01"), "AR", 200),
        ((b"|P|2.5.1", b"|T|2.5.1"), "AR", 202),
        ((b"123456^^^HOSP^MR~987-65-4321^^^SSA^SS", b""), "AE", 101),
    ],
)
def test_unsupported_or_incomplete_messages(
    adt_a01: bytes, edit: tuple[bytes, bytes], code: str, err: int
) -> None:
    app = make_app()
    outcome = app.ingest(adt_a01.replace(*edit))
    assert outcome.ack_code == code
    assert [f.code for f in outcome.faults] == [err]
    assert all_events(app) == []


def test_processing_ids_are_configurable(adt_a01: bytes) -> None:
    app = make_app(processing_ids=frozenset({"P", "T"}))
    assert app.ingest(adt_a01.replace(b"|P|2.5.1", b"|T|2.5.1")).ack_code == "AA"


def test_patient_projection_follows_the_store(adt_a01: bytes) -> None:
    app = make_app()
    app.ingest(adt_a01)
    view = MemoryPatientView()
    runner = PollingProjectionRunner(app, PatientProjection(view))
    assert runner.catch_up() == 1  # only Patient.Registered matches the topics
    record = view.get_patient(str(PATIENT))
    assert record is not None
    assert record.name.family == "DOE"
    assert view.find_by_identifier("123456", "HOSP") == [record]
    assert view.find_by_identifier("123456", "OTHER") == []
    assert runner.catch_up() == 0
    assert runner.position == app.recorder.max_notification_id()


def test_event_ids_are_deterministic(adt_a01: bytes) -> None:
    a, b = make_app(), make_app()
    a.ingest(adt_a01)
    b.ingest(adt_a01)
    ids_a = [e.originator_id for e in all_events(a)]
    assert ids_a == [e.originator_id for e in all_events(b)]
    assert all(isinstance(i, UUID) for i in ids_a)


def test_group_commit_decides_each_message_on_the_previous_ones(adt_a01: bytes) -> None:
    app = make_app()
    renamed = adt_a01.replace(b"MSG00001", b"MSG00002").replace(b"DOE^JANE", b"DOE^JANET")
    no_pv1 = adt_a01.replace(b"MSG00001", b"MSG00003").replace(b"DOE^JANE", b"DOE^JO")
    no_pv1 = no_pv1[: no_pv1.index(b"PV1|")]
    outcomes = app.ingest_many([(adt_a01, "a"), (renamed, "b"), (no_pv1, "c"), (adt_a01, "d")])
    assert [o.ack_code for o in outcomes] == ["AA", "AA", "AE", "AA"]
    assert outcomes[3].duplicate  # the first message, resent inside the same batch
    kinds = [type(e).__qualname__ for e in all_events(app)]
    assert kinds == [
        "InboundMessage.Received", "Patient.Registered", "Encounter.Admitted",
        "InboundMessage.Received", "Patient.DemographicsUpdated",
    ]  # fmt: skip
    # The rejected message's change to the patient (given name JO) left no trace.
    patient = app.repository.get(PATIENT)
    assert patient.name.given == "JANET"
    assert [o.last_notification_id for o in outcomes] == [3, 5, None, None]


def test_a_bug_in_one_message_does_not_fail_the_batch(
    adt_a01: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.application import ingestion

    app = make_app()
    original = ingestion.HANDLERS[("ADT", "A04")]

    def broken(*args: object) -> list[object]:
        raise RuntimeError("bug")

    monkeypatch.setitem(ingestion.HANDLERS, ("ADT", "A04"), broken)
    a04 = sample("adt_a04_v23_lf.hl7")
    outcomes = app.ingest_many([(a04, "x"), (adt_a01, "y")])
    assert [o.ack_code for o in outcomes] == ["AE", "AA"]
    assert outcomes[0].faults[0].code == 207
    monkeypatch.setitem(ingestion.HANDLERS, ("ADT", "A04"), original)
    assert app.ingest(a04).ack_code == "AA"  # resending after the fix works
