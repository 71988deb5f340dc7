"""Value objects survive the store's JSON: regression for a DFT without FT1-2."""

from __future__ import annotations

from decimal import Decimal

from eventsourcing.persistence import DecimalAsStr, JSONTranscoder

from engine.application.transcodings import register_value_transcodings
from engine.domain.values import Coded, FinancialTransaction, Money


def test_a_transaction_without_an_id_decodes() -> None:
    # encode drops empty values to keep events small; decode must restore required ones
    transcoder = JSONTranscoder()
    transcoder.register(DecimalAsStr())
    register_value_transcodings(transcoder)
    charge = FinancialTransaction(
        transaction_id="",
        transaction_type="CG",
        code=Coded("80061", "Lipid panel", "CPT4"),
        extended_amount=Money(Decimal("136.10"), "USD"),
    )
    assert transcoder.decode(transcoder.encode({"t": charge})) == {"t": charge}
