"""Which OBX-6 units are coded as UCUM on a Quantity, and which stay text only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.http.fhir_observation import observation_resource
from adapters.http.ucum import UCUM_SYSTEM, is_ucum
from engine.domain.values import Coded
from projections.observations.view import ObservationRow, ReportRecord

UCUM = ["mmol/L", "mg/dL", "10*9/L", "10^3/uL", "%", "mm[Hg]", "{cells}/uL", "g/(24.h)",
        "mL/min/{1.73_m2}", "kg/m2", "U/L", "[IU]/mL", "fL", "ug/L", "meq/L", "Cel",
        "1"]  # fmt: skip
NOT_UCUM = ["MMOL/L", "mg/dl x", "cells", "mmHg", "bpm", "IU/L", "mcg", "", "mg{x", "m//s"]


@pytest.mark.parametrize("unit", UCUM)
def test_ucum_units_parse(unit: str) -> None:
    assert is_ucum(unit)


@pytest.mark.parametrize("unit", NOT_UCUM)
def test_other_units_do_not(unit: str) -> None:
    assert not is_ucum(unit)


def _row(units: str) -> ObservationRow:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    report = ReportRecord("r1", "FL1", "p1", "", Coded("x"), "F", when)
    return ObservationRow(
        report, "1", "NM", Coded("2345-7", "Glucose", "LN"), ("5.5",), Decimal("5.5"), "",
        units, "", (), "F", when, when, "m1",
    )  # fmt: skip


def test_a_ucum_unit_is_coded_and_another_stays_text() -> None:
    coded = observation_resource(_row("mmol/L"), "p1")["valueQuantity"]
    assert coded == {"value": Decimal("5.5"), "unit": "mmol/L", "system": UCUM_SYSTEM,
                     "code": "mmol/L"}  # fmt: skip
    text = observation_resource(_row("mmHg"), "p1")["valueQuantity"]
    assert text == {"value": Decimal("5.5"), "unit": "mmHg"}
