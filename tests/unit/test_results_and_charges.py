"""ORU^R01 results and DFT^P03 charges become LabReport and Account events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.application.ingestion import Ingestion
from engine.domain.account import Account
from engine.domain.report import LabReport
from engine.domain.values import Coded, Money
from tests.messages import VERSIONS, dft, oru


def events(app: Ingestion, of: type) -> list:
    out = []
    for n in app.recorder.select_notifications(1, 1000):
        event = app.mapper.to_domain_event(n)
        if isinstance(event, of):
            out.append(event)
    return out


CHOLESTEROL = {1: "1", 2: "NM", 3: "2093-3^Cholesterol^LN", 5: "196", 6: "mg/dL", 7: "<200",
               8: "N", 11: "F", 14: "20240101120000"}  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_results_of_every_value_type(app: Ingestion, version: str) -> None:
    obxs = [
        CHOLESTEROL,
        {1: "2", 2: "ST", 3: "8251-1^Note^LN", 5: "fasting~confirmed", 11: "F"},
        {1: "3", 2: "SN", 3: "2571-8^Triglyceride^LN", 5: ">^150", 6: "mg/dL", 8: "H~A",
         11: "P"},
        {1: "4", 2: "CWE", 3: "5778-6^Color^LN", 5: "YEL^Yellow^HL70000", 11: "F"},
        {1: "5", 2: "TX", 3: "11502-2^Report^LN", 5: "line one\\.br\\line two", 11: "F"},
    ]  # fmt: skip
    assert app.ingest(oru("L1", obxs, version=version), "t").ack_code == "AA"
    (reported,) = events(app, LabReport.Reported)
    assert reported.order_number == "FL1"
    assert reported.service == Coded("24331-1", "Lipid panel", "LN")
    assert reported.status == "F"
    chol, note, trig, color, text = reported.observations
    assert chol.numeric == Decimal("196") and chol.units == "mg/dL"
    assert (chol.reference_range, chol.abnormal_flags, chol.status) == ("<200", ("N",), "F")
    assert chol.observed_at is not None and chol.observed_at.year == 2024
    assert note.values == ("fasting", "confirmed")
    assert (trig.comparator, trig.numeric, trig.abnormal_flags) == (">", Decimal(150), ("H", "A"))
    assert color.values == ("YEL^Yellow^HL70000",)
    assert text.values == ("line one\nline two",)
    assert reported.encounter_id is not None


def test_corrected_results_update_the_same_report(app: Ingestion) -> None:
    app.ingest(oru("L1", [CHOLESTEROL], status="P"), "t")
    corrected = {**CHOLESTEROL, 5: "201", 8: "H", 11: "C"}
    assert app.ingest(oru("L2", [corrected], status="C"), "t").ack_code == "AA"
    (updated,) = events(app, LabReport.Updated)
    assert updated.status == "C"
    assert updated.observations[0].numeric == Decimal("201")
    report = app.repository.get(updated.originator_id)
    assert len(report.observations) == 1 and report.observations[0].status == "C"


def test_a_non_numeric_nm_value_is_ae_102_at_obx_5(app: Ingestion) -> None:
    outcome = app.ingest(oru("L1", [{**CHOLESTEROL, 5: "high"}]), "t")
    assert outcome.ack_code == "AE"
    (fault,) = outcome.faults
    assert (fault.code, fault.segment_id, fault.segment_index, fault.field) == (102, "OBX", 1, 5)
    assert app.recorder.max_notification_id() is None


VISIT_CHARGE = {
    1: "1", 2: "T1", 4: "20240101", 6: "CG", 7: "99213^Office visit^CPT", 8: "Office visit",
    10: "2", 11: "272.20&USD", 12: "136.10&USD",
    19: "I10^Hypertension^I10C~E11.9^Diabetes^I10C", 25: "99213^Office visit^CPT",
}  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_charges_and_reversals(app: Ingestion, version: str) -> None:
    reversal = {**VISIT_CHARGE, 2: "T2", 6: "CD", 10: "-1", 11: "-136.10&USD"}
    assert app.ingest(dft("B1", [VISIT_CHARGE, reversal], version=version), "t").ack_code == "AA"
    (opened,) = events(app, Account.Opened)
    assert opened.account_number == "ACC9"
    (posted,) = events(app, Account.ChargePosted)
    charge = posted.transaction
    assert charge.quantity == Decimal(2)
    assert charge.extended_amount == Money(Decimal("272.20"), "USD")
    assert charge.unit_amount == Money(Decimal("136.10"), "USD")
    assert [d.code for d in charge.diagnosis_codes] == ["I10", "E11.9"]
    assert charge.procedure_code == Coded("99213", "Office visit", "CPT")
    (credited,) = events(app, Account.ChargeCredited)
    assert credited.transaction.extended_amount == Money(Decimal("-136.10"), "USD")
    assert isinstance(charge.extended_amount.amount, Decimal)


def test_account_falls_back_to_the_visit_number(app: Ingestion) -> None:
    assert app.ingest(dft("B1", [VISIT_CHARGE], account=""), "t").ack_code == "AA"
    (opened,) = events(app, Account.Opened)
    assert opened.account_number == "V1"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [({11: "lots&USD"}, 102, 11), ({10: "two"}, 102, 10), ({6: ""}, 101, 6)],
)
def test_bad_charges_are_ae_and_store_nothing(
    app: Ingestion, change: dict[int, str], code: int, field: int
) -> None:
    outcome = app.ingest(dft("B1", [{**VISIT_CHARGE, **change}]), "t")
    assert outcome.ack_code == "AE"
    (fault,) = outcome.faults
    assert (fault.code, fault.segment_id, fault.field) == (code, "FT1", field)
    assert app.recorder.max_notification_id() is None
