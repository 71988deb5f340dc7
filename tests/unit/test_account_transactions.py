"""DFT^P03 transactions by FT1-6 type: charges, credits, payments and adjustments as events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.application.ingestion import Ingestion
from engine.domain.account import Account
from engine.domain.values import Money
from tests.messages import dft


def account_events(app: Ingestion) -> list:
    out = []
    for n in app.recorder.select_notifications(1, 1000):
        event = app.mapper.to_domain_event(n)
        if isinstance(event, Account.Event) and not isinstance(event, Account.Opened):
            out.append(event)
    return out


def ft1(kind: str, qty: str, amount: str) -> dict[int, str]:
    return {1: "1", 2: f"{kind}{qty}", 4: "20240101", 6: kind, 7: "X1", 10: qty, 11: amount}


@pytest.mark.parametrize(
    ("kind", "qty", "amount", "event"),
    [
        ("CG", "1", "10.00&USD", Account.ChargePosted),
        ("CG", "-1", "-10.00&USD", Account.ChargeCredited),  # a reversal
        ("CG", "1", "-10.00&USD", Account.ChargeCredited),
        ("CD", "1", "10.00&USD", Account.ChargeCredited),
        ("PY", "1", "25.00&USD", Account.PaymentPosted),
        ("PY", "-1", "-25.00&USD", Account.PaymentPosted),  # a returned payment stays a payment
        ("AJ", "1", "-3.50&USD", Account.AdjustmentPosted),
        ("aj", "1", "3.50&USD", Account.AdjustmentPosted),
        ("ZZ", "1", "1.00&USD", Account.ChargePosted),  # outside table 0017: a charge, as before
    ],
)
def test_each_transaction_type_has_its_event(
    app: Ingestion, kind: str, qty: str, amount: str, event: type
) -> None:
    assert app.ingest(dft("B1", [ft1(kind, qty, amount)]), "t").ack_code == "AA"
    (recorded,) = account_events(app)
    assert type(recorded) is event
    assert recorded.transaction.transaction_type == kind
    assert recorded.transaction.quantity == Decimal(qty)
    value, currency = amount.split("&")
    assert recorded.transaction.extended_amount == Money(Decimal(value), currency)
    assert recorded.encounter_id is not None and recorded.source_message_id is not None


def test_payments_and_adjustments_rebuild_the_account(app: Ingestion) -> None:
    raw = dft("B1", [ft1("CG", "1", "10.00&USD"), ft1("PY", "1", "4.00&USD"),
                     ft1("AJ", "1", "-1.00&USD")])  # fmt: skip
    assert app.ingest(raw, "t").ack_code == "AA"
    (first, *_) = account_events(app)
    account = app.repository.get(first.originator_id)
    assert account.transactions == 3 and account.version == 4


def test_a_bad_unit_amount_is_ae_102_at_ft1_12(app: Ingestion) -> None:
    outcome = app.ingest(dft("B1", [{**ft1("CG", "1", "1.00&USD"), 12: "cheap&USD"}]), "t")
    assert outcome.ack_code == "AE"
    (fault,) = outcome.faults
    assert (fault.code, fault.segment_id, fault.field) == (102, "FT1", 12)
    assert app.recorder.max_notification_id() is None


def test_charge_events_stored_before_visit_numbers_still_load(app: Ingestion) -> None:
    """ChargePosted/ChargeCredited v1 (the previous release) had no visit_number."""
    from eventsourcing.persistence import StoredEvent

    raw = dft("B1", [ft1("CG", "1", "10.00&USD"), ft1("CD", "1", "2.00&USD")], visit="V7")
    assert app.ingest(raw, "t").ack_code == "AA"
    upgraded = []
    for n in app.recorder.select_notifications(1, 100):
        event = app.mapper.to_domain_event(n)
        if not isinstance(event, Account.ChargePosted | Account.ChargeCredited):
            continue
        assert event.visit_number == "V7"
        state = app.mapper.transcoder.decode(n.state)
        assert state.pop("class_version") == 2
        del state["visit_number"]
        v1 = StoredEvent(n.originator_id, n.originator_version, n.topic,
                         app.mapper.transcoder.encode(state))  # fmt: skip
        old = app.mapper.to_domain_event(v1)
        assert type(old) is type(event) and old.visit_number == ""
        assert old.transaction == event.transaction
        upgraded.append(old)
    assert len(upgraded) == 2
