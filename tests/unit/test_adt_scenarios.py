"""ADT triggers as events: a visit's life from pre-admission to discharge, and the conflicts."""

from __future__ import annotations

import pytest

from engine.application.ingestion import Ingestion
from engine.domain.ids import encounter_id_for, patient_id_for
from engine.domain.values import Identifier
from tests.messages import VERSIONS, adt

VISIT = encounter_id_for(Identifier("V1", "HOSP", "VN"), None)  # type: ignore[arg-type]
PATIENT = patient_id_for(Identifier("MRN1", "HOSP", "MR"))


def send(app: Ingestion, message: bytes) -> tuple[str, list[str]]:
    """The ACK code and the qualified names of the events the message stored."""
    before = app.recorder.max_notification_id() or 0
    outcome = app.ingest(message, "test")
    stored = app.recorder.select_notifications(before + 1, 100)
    kinds = [n.topic.rsplit(":", 1)[1] for n in stored]
    assert kinds[:1] in ([], ["InboundMessage.Received"])
    return outcome.ack_code, kinds[1:]


def codes(app: Ingestion, message: bytes) -> list[int]:
    return [f.code for f in app.ingest(message, "test").faults]


def test_a_visit_from_admission_to_cancelled_discharge(app: Ingestion) -> None:
    assert send(app, adt("A01", "1")) == ("AA", ["Patient.Registered", "Encounter.Admitted"])
    assert send(app, adt("A02", "2", location="ICU^1^A^HOSP")) == ("AA", ["Encounter.Transferred"])
    e = app.repository.get(VISIT)
    assert (e.location.point_of_care, e.prior_location.point_of_care) == ("ICU", "WARD1")
    assert send(app, adt("A12", "3", location="WARD1^101^A^HOSP")) == (
        "AA",
        ["Encounter.TransferCancelled"],
    )
    assert app.repository.get(VISIT).location.point_of_care == "WARD1"
    assert send(app, adt("A03", "4", discharge_time="20240105100000")) == (
        "AA",
        ["Encounter.Discharged"],
    )
    discharged = app.repository.get(VISIT)
    assert discharged.status == "finished"
    assert discharged.discharged_at.isoformat() == "2024-01-05T10:00:00+00:00"
    assert send(app, adt("A13", "5")) == ("AA", ["Encounter.DischargeCancelled"])
    assert app.repository.get(VISIT).status == "in-progress"


def test_pre_admission_then_arrival(app: Ingestion) -> None:
    assert send(app, adt("A05", "1")) == ("AA", ["Patient.Registered", "Encounter.PreAdmitted"])
    assert app.repository.get(VISIT).status == "planned"
    assert send(app, adt("A01", "2", location="ED^^^HOSP")) == ("AA", ["Encounter.Arrived"])
    arrived = app.repository.get(VISIT)
    assert (arrived.status, arrived.location.point_of_care) == ("in-progress", "ED")
    # A second admit of the same visit changes nothing but is accepted.
    assert send(app, adt("A01", "3")) == ("AA", [])


def test_class_changes(app: Ingestion) -> None:
    send(app, adt("A04", "1", patient_class="O"))
    assert send(app, adt("A06", "2", patient_class="I")) == ("AA", ["Encounter.InpatientAdmitted"])
    assert app.repository.get(VISIT).patient_class == "I"
    assert send(app, adt("A07", "3", patient_class="")) == ("AA", ["Encounter.ClassChanged"])
    assert app.repository.get(VISIT).patient_class == "O"


def test_update_of_an_unknown_patient_registers_it(app: Ingestion) -> None:
    assert send(app, adt("A08", "1", pv1=False)) == ("AA", ["Patient.Registered"])
    assert send(app, adt("A31", "2", name="DOE^JANET", pv1=False)) == (
        "AA",
        ["Patient.DemographicsUpdated"],
    )
    assert app.repository.get(PATIENT).name.given == "JANET"


@pytest.mark.parametrize("trigger", ["A02", "A03", "A06", "A07", "A11", "A12", "A13"])
def test_triggers_on_an_unknown_visit_are_ae_204_and_store_nothing(
    app: Ingestion, trigger: str
) -> None:
    outcome = app.ingest(adt(trigger, "1"), "test")
    assert outcome.ack_code == "AE"
    (fault,) = outcome.faults
    assert (fault.code, fault.segment_id, fault.field) == (204, "PV1", 19)
    assert fault.segment_index == 1  # ERL-2: the first PV1
    assert app.recorder.max_notification_id() is None


@pytest.mark.parametrize(
    ("history", "trigger", "why"),
    [
        (["A01"], "A13", "cancel the discharge of a visit that is in-progress"),
        (["A01", "A03"], "A11", "cancel the discharge first"),
        (["A01", "A03"], "A02", "transfer a visit that is finished"),
        (["A01", "A11"], "A03", "discharge a visit that is cancelled"),
        (["A01"], "A12", "no transfer to cancel"),
    ],
)
def test_triggers_that_do_not_fit_the_visit_state_are_ae_207(
    app: Ingestion, history: list[str], trigger: str, why: str
) -> None:
    for n, earlier in enumerate(history):
        assert app.ingest(adt(earlier, f"h{n}", location="WARD1^1"), "t").ack_code == "AA"
    before = app.recorder.max_notification_id()
    outcome = app.ingest(adt(trigger, "x", location="ICU^1"), "test")
    assert outcome.ack_code == "AE"
    assert outcome.faults[0].code == 207
    assert why in outcome.faults[0].text
    assert app.recorder.max_notification_id() == before


def test_a_visit_number_of_another_patient_is_refused(app: Ingestion) -> None:
    send(app, adt("A01", "1"))
    outcome = app.ingest(adt("A03", "2", mrn="OTHER"), "t")
    assert outcome.ack_code == "AE"
    assert "another patient" in outcome.faults[0].text


def test_visit_triggers_need_a_visit_number_and_transfers_a_location(app: Ingestion) -> None:
    assert codes(app, adt("A03", "1", visit="")) == [101]
    send(app, adt("A01", "2"))
    (fault,) = app.ingest(adt("A02", "3", location=""), "t").faults
    assert (fault.code, fault.segment_id, fault.segment_index, fault.field) == (101, "PV1", 1, 3)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("trigger", "setup", "expected"),
    [
        ("A01", [], "Encounter.Admitted"),
        ("A02", ["A01"], "Encounter.Transferred"),
        ("A03", ["A01"], "Encounter.Discharged"),
        ("A04", [], "Encounter.Registered"),
        ("A05", [], "Encounter.PreAdmitted"),
        ("A06", ["A04"], "Encounter.InpatientAdmitted"),
        ("A07", ["A01"], "Encounter.ClassChanged"),
        ("A08", ["A01"], "Patient.DemographicsUpdated"),
        ("A11", ["A01"], "Encounter.AdmissionCancelled"),
        ("A12", ["A01", "A02"], "Encounter.TransferCancelled"),
        ("A13", ["A01", "A03"], "Encounter.DischargeCancelled"),
        ("A31", ["A01"], "Patient.DemographicsUpdated"),
    ],
)
def test_each_trigger_in_each_version(
    app: Ingestion, version: str, trigger: str, setup: list[str], expected: str
) -> None:
    for n, earlier in enumerate(setup):
        loc = "ICU^2^B^HOSP" if earlier == "A02" else "WARD1^101^A^HOSP"
        klass = "O" if earlier == "A04" else "I"
        msg = adt(earlier, f"s{n}", version=version, location=loc, patient_class=klass)
        assert app.ingest(msg, "t").ack_code == "AA"
    changes = {"name": "DOE^JANET"} if trigger in ("A08", "A31") else {}
    klass = "O" if trigger == "A07" else "I"
    code, kinds = send(app, adt(trigger, "t", version=version, patient_class=klass, **changes))
    assert code == "AA"
    assert expected in kinds


def a40(control_id: str, survivor: str, retired: str, version: str = "2.5.1") -> bytes:
    return (
        f"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|20240102||ADT^A40^ADT_A39|{control_id}|P|{version}\r"
        f"EVN|A40|20240102\rPID|1||{survivor}^^^HOSP^MR||DOE^JANE\rMRG|{retired}^^^HOSP^MR\r"
    ).encode()


@pytest.mark.parametrize("version", VERSIONS)
def test_merge_retires_a_patient_and_its_identifiers_follow(app: Ingestion, version: str) -> None:
    from projections.patients import MemoryPatientView, PatientProjection
    from projections.runner import PollingProjectionRunner

    send(app, adt("A04", "1", mrn="MRN1", visit="V1"))
    send(app, adt("A04", "2", mrn="MRN2", visit="V2", name="DOE^J"))
    assert send(app, a40("3", "MRN1", "MRN2", version)) == (
        "AA",
        ["Patient.Merged", "Patient.Absorbed"],
    )
    retired_id = patient_id_for(Identifier("MRN2", "HOSP", "MR"))
    assert app.repository.get(retired_id).merged_into == PATIENT
    # Merging again changes nothing.
    assert send(app, a40("3b", "MRN1", "MRN2", version)) == ("AA", [])
    # The old MRN now names the survivor.
    assert send(app, adt("A08", "4", mrn="MRN2", name="DOE^JANET", pv1=False)) == (
        "AA",
        ["Patient.DemographicsUpdated"],
    )
    assert app.repository.get(PATIENT).name.given == "JANET"

    view = MemoryPatientView()
    PollingProjectionRunner(app, PatientProjection(view)).catch_up()
    survivor = view.find_by_identifier("MRN2", "HOSP")
    assert [r.patient_id for r in survivor] == [str(PATIENT)]
    assert survivor[0].old_identifiers == {"HOSP|MRN2"}  # listed, as an old one (use old)
    retired = view.get_patient(str(retired_id))
    assert retired is not None and retired.merged_into == str(PATIENT)


def test_merge_of_an_unknown_patient_is_ae_204_at_mrg_1(app: Ingestion) -> None:
    send(app, adt("A04", "1"))
    outcome = app.ingest(a40("2", "MRN1", "NOPE"), "t")
    assert outcome.ack_code == "AE"
    (fault,) = outcome.faults
    assert (fault.code, fault.segment_id, fault.segment_index, fault.field) == (204, "MRG", 1, 1)


def test_merge_into_itself_is_refused(app: Ingestion) -> None:
    send(app, adt("A04", "1"))
    outcome = app.ingest(a40("2", "MRN1", "MRN1"), "t")
    assert (outcome.ack_code, outcome.faults[0].code) == ("AE", 207)
