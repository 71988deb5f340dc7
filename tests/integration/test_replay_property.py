"""Property: any sequence of ADT messages gives the same state when replayed from the history.

Hypothesis generates sequences over a handful of patients and visits:
registrations (A04), admits (A01), pre-admits (A05), transfers (A02),
discharges (A03), class changes (A06/A07), cancels (A11/A12/A13), updates
(A08/A31), merges (A40) and resends, with event times in any order. Many are
refused (a discharge of an unknown visit, a cancel that does not fit); that is
part of the property: a refusal must leave no trace.

After every message:
- the aggregates as ingestion sees them live (its cache or the store) equal the
  ones rebuilt by replaying the stored events up to that point;
- an AE/AR stored nothing, an AA for a new message stored its InboundMessage.
At the end, the patient read model rebuilt from zero by the projection runner
equals the one kept up to date live, message by message.
Runs on the memory store and on SQLite.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import build
from engine.application.adt import visit_id
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier
from engine.hl7.message import parse_message
from projections.patients import MemoryPatientView, PatientProjection
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator
from tests.messages import adt

MRNS = ["P0", "P1", "P2", "P3"]
VISITS = ["V0", "V1", "V2", "V3"]
PATIENT_IDS = [patient_id_for(Identifier(m, "HOSP", "MR")) for m in MRNS]
VISIT_IDS = [visit_id(parse_message(adt("A01", "X", visit=v))) for v in VISITS]
TRIGGERS = ["A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A31"]
NAMES = ["DOE^JANE", "DOE^JOAN", "ROE^RICHARD", ""]
WARDS = ["WARD1^101^A^HOSP", "ICU^2^B^HOSP", "ED^1^^HOSP", ""]


@dataclass(frozen=True)
class Step:
    trigger: str  # an ADT trigger, "A40", or "RESEND"
    patient: int
    other: int
    visit: int
    name: str
    ward: str
    sex: str
    hour: int


steps = st.builds(
    Step,
    trigger=st.sampled_from([*TRIGGERS, *TRIGGERS[:5], "A40", "RESEND"]),  # more starts
    patient=st.integers(0, 3),
    other=st.integers(0, 3),
    visit=st.integers(0, 3),
    name=st.sampled_from(NAMES),
    ward=st.sampled_from(WARDS),
    sex=st.sampled_from(["F", "M", "U", ""]),
    hour=st.integers(0, 23),
)


def message(step: Step, n: int, sent: list[bytes]) -> bytes:
    when = f"20240101{step.hour:02d}0000"
    if step.trigger == "RESEND":
        return sent[step.other % len(sent)] if sent else message(Step("A04", *_rest(step)), n, [])
    if step.trigger == "A40":
        return (
            f"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|{when}||ADT^A40^ADT_A39|C{n}|P|2.5\r"
            f"EVN|A40|{when}\rPID|1||{MRNS[step.patient]}^^^HOSP^MR||{step.name}\r"
            f"MRG|{MRNS[step.other]}^^^HOSP^MR\r"
        ).encode()
    return adt(
        step.trigger,
        f"C{n}",
        mrn=MRNS[step.patient],
        name=step.name,
        sex=step.sex,
        visit=VISITS[step.visit],
        location=step.ward,
        patient_class={"A01": "I", "A04": "O", "A05": "P"}.get(step.trigger, ""),
        event_time=when,
        discharge_time=when if step.trigger == "A03" else "",
    )


def _rest(step: Step) -> tuple[Any, ...]:
    return (step.patient, step.other, step.visit, step.name, step.ward, step.sex, step.hour)


def state(aggregate: Any) -> dict[str, Any] | None:
    """What an aggregate is, for comparison: every attribute but the pending events."""
    if aggregate is None:
        return None
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def record(view: Any, patient_id: UUID) -> Any:
    r = view.get_patient(str(patient_id))
    if r is None:
        return None
    return (r.name, r.birth_date, r.sex, r.updated_at, frozenset(r.identifiers), r.merged_into)


def check_sequence(store: str, sequence: list[Step]) -> None:
    engine = build(Settings(store=store), validator=FakeMessageValidator())
    app = engine.ingestion
    replayed: dict[UUID, Any] = {}
    position = 0
    sent: list[bytes] = []
    try:
        for n, step in enumerate(sequence):
            raw = message(step, n, sent)
            outcome = app.ingest(raw, "prop")
            sent.append(raw)
            head = app.recorder.max_notification_id() or 0
            if outcome.ack_code != "AA" or outcome.duplicate:
                logged = 1 if outcome.rejected_id is not None else 0  # its message-log entry
                assert head == position + logged, "a refusal or a resend stored something"
            else:
                assert outcome.events_written >= 1 and outcome.last_notification_id == head
            for note in app.recorder.select_notifications(position + 1, 1000) if head else []:
                event = app.mapper.to_domain_event(note)
                replayed[event.originator_id] = event.mutate(replayed.get(event.originator_id))
            position = head
            engine.runner.catch_up()
            for aggregate_id in (*PATIENT_IDS, *VISIT_IDS):
                live = state(app.current(aggregate_id))
                assert live == state(replayed.get(aggregate_id)), (n, step)
        rebuilt_view = MemoryPatientView()
        rebuilt = PollingProjectionRunner(app, PatientProjection(rebuilt_view))
        rebuilt.catch_up()
        for patient_id in PATIENT_IDS:
            assert record(rebuilt_view, patient_id) == record(engine.patients, patient_id)
        for mrn in MRNS:
            found = {r.patient_id for r in engine.patients.find_by_identifier(mrn, "HOSP")}
            assert found == {r.patient_id for r in rebuilt_view.find_by_identifier(mrn, "HOSP")}
    finally:
        engine.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(sequence=st.lists(steps, min_size=1, max_size=30))
def test_any_adt_sequence_replays_to_the_same_state(backend: str, sequence: list[Step]) -> None:
    if backend == "memory":
        check_sequence("memory:", sequence)
        return
    with tempfile.TemporaryDirectory() as tmp:
        check_sequence(f"sqlite:///{Path(tmp) / 'store.db'}", sequence)
