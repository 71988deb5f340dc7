"""A DFT scenario for the billing read model: what is sent and what the totals must be.

Two accounts of one patient; charges, a partial and a full reversal (negative
quantity and amount), a credit, payments and a payment reversal, a write-off,
an extended amount left out (unit x quantity), a second currency, three days,
three visits, several codes. Expected totals are in cents, worked by hand.
"""

from __future__ import annotations

from uuid import UUID

from engine.domain.ids import encounter_id_for
from engine.domain.values import Identifier
from tests.messages import dft


def ft1(n: str, kind: str, code: str, qty: str, amount: str, day: str, **extra: str) -> dict:
    fields = {1: "1", 2: n, 4: day, 6: kind, 7: code, 10: qty, 11: amount}
    fields.update({int(k[1:]): v for k, v in extra.items()})
    return fields


VISIT = "99213^Office visit^CPT"
PANEL = "80053^Comprehensive metabolic panel^CPT"
CBC = "85025^Complete blood count^CPT"
DRAW = "36415^Venipuncture^CPT"
PAY = "PAY^Patient payment^LOCAL"
WRITE_OFF = "WO^Small balance write-off^LOCAL"
FLU = "G0008^Flu vaccine administration^HCPCS"

MESSAGES = [
    dft(
        "B1",
        [
            ft1("T1", "CG", VISIT, "2", "272.20&USD", "20240101", f12="136.10&USD",
                f19="I10^Hypertension^I10C~E11.9^Type 2 diabetes^I10C", f25=VISIT),
            ft1("T2", "CG", PANEL, "1", "45.55&USD", "20240101", f19="E11.9^Type 2 diabetes^I10C"),
        ],
        account="ACC1",
        visit="V1",
    ),
    dft(
        "B2",
        [
            ft1("T3", "CG", VISIT, "-1", "-136.10&USD", "20240102"),  # partial reversal of T1
            ft1("T4", "CD", PANEL, "1", "10.00&USD", "20240102"),  # a credit, sent positive
            ft1("T10", "CG", CBC, "1", "30.00&USD", "20240102"),
            ft1("T11", "CG", CBC, "-1", "-30.00&USD", "20240102"),  # full reversal of T10
        ],
        account="ACC1",
        visit="V1",
    ),
    dft(
        "B3",
        [
            ft1("T5", "CG", DRAW, "3", "", "20240103", f12="0.10&USD"),  # no FT1-11
            ft1("T6", "PY", PAY, "1", "100.00&USD", "20240103"),
            ft1("T7", "AJ", WRITE_OFF, "1", "-5.25&USD", "20240103"),
            ft1("T8", "PY", PAY, "-1", "-20.00&USD", "20240103"),  # a returned payment
        ],
        account="ACC1",
        visit="V2",
    ),
    dft("B4", [ft1("T9", "CG", FLU, "1", "99.99&EUR", "20240104")], account="ACC2", visit="V3"),
]  # fmt: skip

# (charges, credits, payments, adjustments, balance, lines) in cents
ACC1_USD = (18195, 1000, 8000, -525, 8670, 10)
ACC2_EUR = (9999, 0, 0, 0, 9999, 1)
ACC1_BY_DAY = {
    "2024-01-01": (31775, 0, 0, 0, 31775, 2),
    "2024-01-02": (-13610, 1000, 0, 0, -14610, 4),
    "2024-01-03": (30, 0, 8000, -525, -8495, 4),
}
ACC1_BY_CODE = {
    "CPT|36415": (30, 0, 0, 0, 30, 1),
    "CPT|80053": (4555, 1000, 0, 0, 3555, 2),
    "CPT|85025": (0, 0, 0, 0, 0, 2),
    "CPT|99213": (13610, 0, 0, 0, 13610, 2),
    "LOCAL|PAY": (0, 0, 8000, 0, -8000, 2),
    "LOCAL|WO": (0, 0, 0, -525, -525, 1),
}
ACC1_BY_VISIT = {"V1": (18165, 1000, 0, 0, 17165, 6), "V2": (30, 0, 8000, -525, -8495, 4)}


def encounter(visit: str) -> str:
    """The encounter id carelog derives from a PV1-19 visit number of authority HOSP."""
    return str(encounter_id_for(Identifier(visit, "HOSP", "VN"), UUID(int=0)))
