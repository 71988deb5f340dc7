"""PV1-7/8/9/17 participants, PV1-10 service, PV1-36 disposition: parsed in every version,
kept in the events; the attending changes with the admission; events stored before load."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import StoredEvent

from engine.application.ingestion import Ingestion
from engine.domain.encounter import Encounter
from engine.domain.values import EncounterDetails, Participant
from tests.messages import VERSIONS, adt
from tests.unit.test_adt_scenarios import VISIT, send


def with_pv1(message: bytes, fields: dict[int, str]) -> bytes:
    """``message`` with PV1 fields set (1-based, as HL7 numbers them)."""
    segments = message.decode().split("\r")
    for i, segment in enumerate(segments):
        if segment.startswith("PV1|"):
            parts = segment.split("|")
            parts += [""] * (max(fields) + 1 - len(parts))
            for n, value in fields.items():
                parts[n] = value
            segments[i] = "|".join(parts)
    return "\r".join(segments).encode()


ED_DOCTOR = {7: "D100^CASEY^ANN", 8: "D200^REED^TOM", 10: "EME"}
WARD_DOCTOR = {
    7: "D300^HOUSE^GREG~D301^WILSON^JAMES",
    9: "D400^CHASE^ROB",
    10: "MED",
    17: "D300^HOUSE^GREG",
}


@pytest.mark.parametrize("version", VERSIONS)
def test_participants_and_service_start_with_the_visit(app: Ingestion, version: str) -> None:
    send(app, with_pv1(adt("A04", "1", version=version, patient_class="E"), ED_DOCTOR))
    visit = app.repository.get(VISIT)
    assert visit.details == EncounterDetails(
        (Participant("ATND", "D100", "CASEY", "ANN"), Participant("REF", "D200", "REED", "TOM")),
        "EME",
    )
    admit = with_pv1(adt("A01", "2", version=version, patient_class="I"), WARD_DOCTOR)
    assert send(app, admit) == ("AA", ["Encounter.InpatientAdmitted"])
    admitted = app.repository.get(VISIT).details
    assert [(p.role, p.id) for p in admitted.participants] == [
        ("ATND", "D300"),
        ("ATND", "D301"),
        ("CON", "D400"),
        ("ADM", "D300"),
    ]
    assert admitted.service == "MED"
    discharge = with_pv1(adt("A03", "3", version=version), {36: "01"})
    assert send(app, discharge) == ("AA", ["Encounter.Discharged"])
    assert app.repository.get(VISIT).details.disposition == "01"
    assert app.repository.get(VISIT).details.service == "MED"


def _as_version_1(app: Ingestion, stored: StoredEvent, field: str) -> StoredEvent:
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    del state[field]
    encoded = app.mapper.transcoder.encode(state)
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, encoded)


def test_visit_events_stored_before_details_still_load(app: Ingestion) -> None:
    send(app, with_pv1(adt("A01", "1"), WARD_DOCTOR))
    send(app, with_pv1(adt("A03", "2"), {36: "01"}))
    seen = []
    for n in app.recorder.select_notifications(1, 100):
        event = app.mapper.to_domain_event(n)
        if isinstance(event, Encounter.Admitted):
            old = app.mapper.to_domain_event(_as_version_1(app, n, "details"))
            assert old.details == EncounterDetails() and old.location == event.location
            seen.append("Admitted")
        if isinstance(event, Encounter.Discharged):
            old = app.mapper.to_domain_event(_as_version_1(app, n, "disposition"))
            assert old.disposition == "" and old.discharged_at == event.discharged_at
            seen.append("Discharged")
    assert seen == ["Admitted", "Discharged"]
