"""An emergency or outpatient visit admitted as inpatient (A01/A06 after A04), and A04 after A01."""

from __future__ import annotations

import pytest

from engine.application.ingestion import Ingestion
from tests.messages import VERSIONS, adt
from tests.unit.test_adt_scenarios import VISIT, send


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("trigger", ["A01", "A06"])
def test_an_emergency_visit_admitted_moves_class_location_and_admit_time(
    app: Ingestion, version: str, trigger: str
) -> None:
    ed = adt("A04", "1", version=version, patient_class="E", location="ED^^^HOSP")
    assert send(app, ed) == ("AA", ["Patient.Registered", "Encounter.Registered"])
    admit = adt(
        trigger,
        "2",
        version=version,
        patient_class="I",
        location="WARD1^101^A^HOSP",
        prior_location="ED^^^HOSP",
        event_time="20240101150000",
        admit_time="20240101143000",
    )
    assert send(app, admit) == ("AA", ["Encounter.InpatientAdmitted"])
    visit = app.repository.get(VISIT)
    assert (visit.status, visit.patient_class) == ("in-progress", "I")
    assert (visit.location.point_of_care, visit.location.bed) == ("WARD1", "A")
    assert visit.started_at.isoformat() == "2024-01-01T14:30:00+00:00"
    # The same admission again changes nothing.
    assert send(app, adt(trigger, "3", version=version, patient_class="I")) == ("AA", [])


def test_an_admission_without_admit_time_starts_when_it_occurred(app: Ingestion) -> None:
    send(app, adt("A04", "1", patient_class="O", location="CLINIC^^^HOSP"))
    assert send(app, adt("A01", "2", patient_class="", event_time="20240101160000")) == (
        "AA",
        ["Encounter.InpatientAdmitted"],
    )
    visit = app.repository.get(VISIT)
    assert visit.patient_class == "I"
    assert visit.started_at.isoformat() == "2024-01-01T16:00:00+00:00"


def test_an_a01_of_class_emergency_on_an_emergency_visit_is_a_repeat(app: Ingestion) -> None:
    send(app, adt("A04", "1", patient_class="E", location="ED^^^HOSP"))
    assert send(app, adt("A01", "2", patient_class="E", location="ED^^^HOSP")) == ("AA", [])
    assert app.repository.get(VISIT).patient_class == "E"


def test_a_registration_after_the_admission_is_refused_and_changes_nothing(
    app: Ingestion,
) -> None:
    send(app, adt("A01", "1", patient_class="I"))
    outcome = app.ingest(adt("A04", "2", patient_class="E", location="ED^^^HOSP"), "t")
    assert outcome.ack_code == "AE"
    assert "A07" in outcome.text
    assert [f.code for f in outcome.faults] == [207]
    visit = app.repository.get(VISIT)
    assert (visit.patient_class, visit.location.point_of_care) == ("I", "WARD1")
    # An A04 that agrees with the admission (class I, or none) is a repeat: AA, no change.
    assert send(app, adt("A04", "3", patient_class="I")) == ("AA", [])
    assert send(app, adt("A04", "4", patient_class="")) == ("AA", [])
