"""The lean create/replay path builds exactly what eventsourcing's generic path builds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)

from engine.application.transcodings import register_value_transcodings
from engine.domain.account import Account
from engine.domain.encounter import Encounter
from engine.domain.lean import _plans, create, replay
from engine.domain.message import InboundMessage
from engine.domain.patient import Patient
from engine.domain.report import LabReport
from engine.domain.values import (
    Address,
    Coded,
    ContactPoint,
    EncounterDetails,
    FinancialTransaction,
    Identifier,
    Location,
    Money,
    ObservationValue,
    Participant,
    PatientDetails,
    PersonName,
)

T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
MRN = Identifier("100001", "GENHOSP", "MR")


def _mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_value_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


CREATIONS: list[tuple[type, type, dict[str, Any]]] = [
    (
        Patient,
        Patient.Registered,
        {
            "identifiers": (MRN, Identifier("900", "SSA", "SS")),
            "name": PersonName(family="MILLER", given="MARY", use="L"),
            "birth_date": "1960-02-18",
            "sex": "F",
            "occurred_at": T0,
            "source_message_id": uuid4(),
            "details": PatientDetails(
                other_names=(PersonName(family="JONES", use="M"),),
                addresses=(Address(street="1 MAIN ST", city="SPRINGFIELD", type="H"),),
                telecom=(ContactPoint("555-0100", "PRN", "PH"),),
            ),
        },
    ),
    *[
        (
            Encounter,
            kind,
            {
                "patient_id": uuid4(),
                "visit_number": Identifier("V1", "GENHOSP", "VN"),
                "patient_class": "I",
                "location": Location("ICU", "214", "A", "GENHOSP"),
                "admission_type": "E",
                "priority": "",
                "started_at": None,
                "occurred_at": T0,
                "source_message_id": uuid4(),
                "details": EncounterDetails((Participant("ATND", "D1", "HOUSE", "G"),), "MED"),
            },
        )
        for kind in (Encounter.Admitted, Encounter.Registered, Encounter.PreAdmitted)
    ],
    (
        InboundMessage,
        InboundMessage.Received,
        {
            "sending_application": "EPIC",
            "sending_facility": "GENHOSP",
            "control_id": "C1",
            "message_type": "ADT^A01",
            "version": "2.5.1",
            "channel": "",
            "raw": "MSH|^~\\&|EPIC\rPID|1||x\r",
            "sha256": "ab" * 32,
        },
    ),
    (
        LabReport,
        LabReport.Reported,
        {
            "patient_id": uuid4(),
            "encounter_id": None,
            "order_number": "ORD1",
            "service": Coded("24331-1", "Lipid panel", "LN"),
            "status": "F",
            "observed_at": T0,
            "observations": (
                ObservationValue(
                    set_id="1", value_type="NM", code=Coded("2093-3"), numeric=Decimal("5.2")
                ),
            ),
            "occurred_at": T0,
            "source_message_id": uuid4(),
        },
    ),
    (
        Account,
        Account.Opened,
        {
            "account_number": "ACC1",
            "patient_id": uuid4(),
            "occurred_at": T0,
            "source_message_id": uuid4(),
        },
    ),
]


@pytest.mark.parametrize(("cls", "event_class", "fields"), CREATIONS)
def test_create_builds_the_same_event_aggregate_and_stored_state(
    cls: type, event_class: type, fields: dict[str, Any]
) -> None:
    aggregate_id = uuid4()
    lean = create(cls, event_class, aggregate_id, timestamp=T0, **fields)
    generic = cls._create(event_class, id=aggregate_id, timestamp=T0, **fields)  # type: ignore[attr-defined]
    (lean_event,) = lean.pending_events
    (generic_event,) = generic.pending_events
    assert type(lean_event) is type(generic_event) is event_class
    assert list(vars(lean_event).items()) == list(vars(generic_event).items())  # order too
    assert vars(lean) == vars(generic)
    mapper = _mapper()
    assert mapper.to_stored_event(lean_event) == mapper.to_stored_event(generic_event)
    # read back, it replays to what eventsourcing's own mutate builds
    restored = mapper.to_domain_event(mapper.to_stored_event(lean_event))
    assert vars(replay([restored])) == vars(restored.mutate(None))
    assert vars(replay([generic_event])) == {**vars(generic), "_pending_events": []}


@pytest.mark.parametrize(("cls", "event_class", "fields"), CREATIONS)
def test_the_planned_way_builds_what_eventsourcing_builds(
    cls: type, event_class: type, fields: dict[str, Any]
) -> None:
    """Without a timestamp (as the domain calls it) create takes its per-class plan."""
    aggregate_id = uuid4()
    lean = create(cls, event_class, aggregate_id, **fields)
    assert _plans[(cls, event_class)] is not None  # the planned way, not the general one
    (lean_event,) = lean.pending_events
    generic = cls._create(  # type: ignore[attr-defined]
        event_class, id=aggregate_id, timestamp=lean_event.timestamp, **fields
    )
    (generic_event,) = generic.pending_events
    assert type(lean_event) is event_class
    assert list(vars(lean_event).items()) == list(vars(generic_event).items())  # order too
    assert list(vars(lean).items()) == list(vars(generic).items())
    mapper = _mapper()
    assert mapper.to_stored_event(lean_event) == mapper.to_stored_event(generic_event)


def test_create_stamps_the_time_when_none_is_given() -> None:
    before = datetime.now(UTC)
    account = create(Account, Account.Opened, uuid4(), **CREATIONS[-1][2])
    assert before <= account.created_on <= datetime.now(UTC)
    assert account.created_on.tzinfo is not None


def test_a_missing_or_unknown_field_is_refused_as_eventsourcing_refuses_it() -> None:
    fields = dict(CREATIONS[-1][2])
    del fields["account_number"]
    with pytest.raises(TypeError):
        create(Account, Account.Opened, uuid4(), **fields)
    with pytest.raises(TypeError):
        create(Account, Account.Opened, uuid4(), surprise=1, **CREATIONS[-1][2])
    with pytest.raises(TypeError):  # __post_init__: the id must be a UUID
        create(Account, Account.Opened, "not-a-uuid", **CREATIONS[-1][2])  # type: ignore[arg-type]


def _history() -> list[Any]:
    _, event_class, fields = CREATIONS[0]
    patient = Patient._create(event_class, id=uuid4(), **fields)
    patient.record_demographics(
        identifiers=[MRN, Identifier("555", "GENHOSP", "PI")],
        name=PersonName(family="SMITH", given="MARY"),
        birth_date="",
        sex="",
        occurred_at=T0,
        source_message_id=uuid4(),
    )
    patient.merge_into(uuid4(), T0, uuid4())
    return list(patient.collect_events())


def test_replay_matches_eventsourcings_mutate_for_a_history() -> None:
    events = _history()
    assert len(events) == 4
    generic = None
    for event in events:
        generic = event.mutate(generic)
    lean = replay(events)
    assert vars(lean) == vars(generic)
    assert lean.version == 4 and lean.merged_into is not None
    assert replay([]) is None


def test_replay_refuses_a_gap_in_the_history() -> None:
    events = _history()
    with pytest.raises(OriginatorVersionError):
        replay([events[0], events[2]])


def test_a_transaction_account_replays_with_its_charges() -> None:
    _, event_class, fields = CREATIONS[-1]
    account = create(Account, event_class, uuid4(), **fields)
    account.post(
        FinancialTransaction(
            transaction_id="T1",
            transaction_type="CG",
            code=Coded("80061"),
            extended_amount=Money(Decimal("10.00"), "USD"),
        ),
        encounter_id=None,
        occurred_at=T0,
        source_message_id=uuid4(),
    )
    events = list(account.collect_events())
    assert vars(replay(events)) == {**vars(account), "_pending_events": []}


def test_an_event_class_with_its_own_post_init_keeps_it() -> None:
    checked: list[str] = []

    class Checked(Account.Opened):
        def __post_init__(self) -> None:
            super().__post_init__()
            checked.append(self.account_number)

    create(Account, Checked, uuid4(), **CREATIONS[-1][2])
    assert checked == ["ACC1"]
