"""Edge cases of the OBX -> Observation and FT1 -> ChargeItem mappings, resources validated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fhir.resources.R4B.chargeitem import ChargeItem
from fhir.resources.R4B.observation import Observation

from adapters.http.billing import charge_item
from adapters.http.fhir_json import dumps
from adapters.http.fhir_observation import observation_resource
from engine.domain.values import Coded, FinancialTransaction, Money
from projections.billing.view import AccountRecord, line_from_transaction
from projections.observations.view import ObservationRow, ReportRecord, typed_value

MGDL = {"unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
WHEN = datetime(2024, 1, 1, 12, tzinfo=UTC)
REPORT = ReportRecord("r1", "FL1", "p1", "", Coded("24331-1", "Lipid panel", "LN"), "F", WHEN)
ROW = ObservationRow(
    report=REPORT, set_id="1", value_type="NM", code=Coded("2093-3", "Cholesterol", "LN"),
    values=("196",), numeric=Decimal("196"), comparator="", units="mg/dL",
    reference_range="", abnormal_flags=(), status="F", observed_at=None, updated_at=WHEN,
    source_message_id="m1",
)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"value_type": "SN", "values": ("^1^-^5",), "numeric": None},
         {"valueRange": {"low": {"value": Decimal(1), **MGDL},
                         "high": {"value": Decimal(5), **MGDL}}}),
        ({"value_type": "SN", "values": ("<=^0.5",), "numeric": Decimal("0.5"), "comparator": "<="},
         {"valueQuantity": {"value": Decimal("0.5"), **MGDL, "comparator": "<="}}),
        ({"value_type": "SN", "values": ("=^7",), "numeric": Decimal(7), "comparator": "="},
         {"valueQuantity": {"value": Decimal(7), **MGDL}}),
        ({"value_type": "NM", "values": (), "numeric": None}, {}),
        ({"value_type": "DTM", "values": ("20240101",), "numeric": None},
         {"valueString": "20240101"}),
        ({"value_type": "CE", "values": ("POS^Positive",), "numeric": None},
         {"valueCodeableConcept": {"coding": [{"code": "POS", "display": "Positive"}],
                                   "text": "Positive"}}),
    ],
)  # fmt: skip
def test_value_types(change: dict, expected: dict) -> None:
    row = replace(ROW, **change)
    typed = typed_value(row.value_type, row.values)  # as the views store it
    row = replace(row, coded=typed.coded, sn_num1=typed.sn_num1,
                  sn_separator=typed.sn_separator, sn_num2=typed.sn_num2)  # fmt: skip
    resource = observation_resource(row, "p1")
    Observation.model_validate(resource)
    assert {k: v for k, v in resource.items() if k.startswith("value")} == expected


@pytest.mark.parametrize(
    ("obx11", "status"),
    [("F", "final"), ("C", "corrected"), ("P", "preliminary"), ("X", "cancelled"),
     ("D", "entered-in-error"), ("I", "registered"), ("", "unknown"), ("Q", "unknown")],
)  # fmt: skip
def test_status_and_the_reports_time(obx11: str, status: str) -> None:
    resource = observation_resource(replace(ROW, status=obx11, observed_at=WHEN), "p1")
    assert resource["status"] == status
    assert resource["effectiveDateTime"] == "2024-01-01T12:00:00Z"
    assert "encounter" not in resource and "referenceRange" not in resource


def test_a_reference_range_that_is_not_low_high_stays_text() -> None:
    resource = observation_resource(replace(ROW, reference_range="<200"), "p1")
    assert resource["referenceRange"] == [{"text": "<200"}]


def test_a_charge_without_currency_or_visit_is_still_a_valid_charge_item() -> None:
    t = FinancialTransaction("T1", "CG", Coded("X1"), quantity=Decimal("1.5"),
                             unit_amount=Money(Decimal("0.333"), ""))  # fmt: skip
    line = line_from_transaction(
        account_id="a1", seq=2, encounter_id="", visit_number="", transaction=t,
        credited=False, occurred_at=WHEN, source_message_id="m1",
    )  # fmt: skip
    assert (line.amount, line.amount_cents, line.currency) == (Decimal("0.4995"), 50, "")
    account = AccountRecord("a1", "ACC1", "p1", WHEN, "m0")
    item = charge_item(account, line, "p1", cancelled=False)
    ChargeItem.model_validate(item)
    assert item["priceOverride"] == {"value": Decimal("0.4995")}
    assert "context" not in item and "occurrenceDateTime" not in item
    assert '"priceOverride":{"value":0.4995}' in dumps(item)


def test_decimals_render_exactly_and_strings_are_left_alone() -> None:
    text = dumps({"a": Decimal("136.10"), "b": ["\x00decimal:1\x00x", Decimal("-0.00")]})
    # A control character never reaches FHIR JSON (U+FFFD), so no string can pose as a number.
    assert text == '{"a":136.10,"b":["\\ufffddecimal:1\\ufffdx",-0.00]}'


def test_typed_values_split_codes_and_structured_numbers() -> None:
    assert typed_value("CWE", ("YEL^Yellow^HL70000",)).coded == Coded("YEL", "Yellow", "HL70000")
    ratio = typed_value("SN", ("^1^:^128",))
    assert (ratio.sn_num1, ratio.sn_separator, ratio.sn_num2) == (Decimal(1), ":", Decimal(128))
    assert typed_value("SN", ("^x^-^5",)).sn_num1 is None
    assert typed_value("ST", ("a^b",)) == typed_value("CWE", ()) == typed_value("NM", ("1",))
