"""The billing read model on every backend: lines, exact totals, replay, old events, SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from adapters.bootstrap import Engine, build
from engine.config import Settings
from engine.domain.account import Account
from engine.domain.values import Coded, FinancialTransaction, Money
from projections.billing import MemoryBillingView, Totals
from projections.billing.view import BillingView
from projections.catalog import spec_for
from projections.runner import PollingProjectionRunner, ProjectionFailed
from tests.fakes import FakeMessageValidator
from tests.integration.read_models.billing_scenario import (
    ACC1_BY_CODE,
    ACC1_BY_DAY,
    ACC1_BY_VISIT,
    ACC1_USD,
    ACC2_EUR,
    MESSAGES,
    encounter,
)
from tests.messages import a40, dft

ANALYSTS = Path(__file__).parents[3] / "docs" / "analysts.md"


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    for raw in MESSAGES:
        assert engine.ingestion.ingest(raw, "test").ack_code == "AA"
    engine.runner.catch_up()
    yield engine
    engine.close()


def billing(engine: Engine) -> BillingView:
    view: BillingView = engine.views["billing"]
    return view


def tuples(totals: tuple[Totals, ...]) -> dict[str, tuple[int, ...]]:
    return {
        t.currency: (t.charges, t.credits, t.payments, t.adjustments, t.balance, t.lines)
        for t in totals
    }


def account(view: BillingView, number: str):  # type: ignore[no-untyped-def]
    (found,) = view.find_accounts(number)
    return view.statement_of(found)


def test_lines_keep_what_each_ft1_said(engine: Engine) -> None:
    s = account(billing(engine), "ACC1")
    by_id = {line.transaction_id: line for line in s.lines}
    assert [line.transaction_id for line in s.lines] == [
        "T1", "T2", "T3", "T4", "T10", "T11", "T5", "T6", "T7", "T8",
    ]  # fmt: skip
    t1 = by_id["T1"]
    assert (t1.transaction_type, t1.kind, t1.reversal) == ("CG", "charge", False)
    assert t1.code == Coded("99213", "Office visit", "CPT")
    assert t1.procedure == Coded("99213", "Office visit", "CPT")
    assert [d.code for d in t1.diagnoses] == ["I10", "E11.9"]
    assert (t1.quantity, t1.unit_amount) == (Decimal(2), Decimal("136.10"))
    assert isinstance(t1.amount, Decimal) and str(t1.amount) == "272.20"
    assert (t1.currency, t1.amount_cents, t1.balance_cents) == ("USD", 27220, 27220)
    assert t1.day == "2024-01-01"
    assert t1.transaction_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert t1.encounter_id == encounter("V1") and t1.source_message_id
    assert t1.visit_number == "V1"
    t3 = by_id["T3"]  # a reversal: negative quantity and amount
    assert (t3.kind, t3.reversal, t3.quantity) == ("charge", True, Decimal(-1))
    assert t3.balance_cents == -13610
    t4 = by_id["T4"]  # a credit sent positive still lowers the balance
    assert (t4.kind, t4.reversal) == ("credit", False)
    assert (t4.amount_cents, t4.balance_cents) == (1000, -1000)
    t5 = by_id["T5"]  # no extended amount: unit x quantity
    assert (t5.amount, t5.amount_cents, t5.currency) == (Decimal("0.30"), 30, "USD")
    assert (by_id["T6"].kind, by_id["T6"].balance_cents) == ("payment", -10000)
    t8 = by_id["T8"]  # a returned payment raises the balance again
    assert (t8.kind, t8.reversal, t8.balance_cents) == ("payment", True, 2000)
    assert (by_id["T7"].kind, by_id["T7"].balance_cents) == ("adjustment", -525)
    assert by_id["T7"].encounter_id == encounter("V2")
    assert {line.seq for line in s.lines} == set(range(2, 12))  # seq 1 is Account.Opened
    assert s.account.account_number == "ACC1"


def test_totals_per_account_visit_code_and_day_are_exact(engine: Engine) -> None:
    view = billing(engine)
    s = account(view, "ACC1")
    assert tuples(s.totals) == {"USD": ACC1_USD}
    assert {k: tuples(v)["USD"] for k, v in s.by_day.items()} == ACC1_BY_DAY
    assert {k: tuples(v)["USD"] for k, v in s.by_code.items()} == ACC1_BY_CODE
    assert {k: tuples(v)["USD"] for k, v in s.by_visit.items()} == {
        encounter(v): t for v, t in ACC1_BY_VISIT.items()
    }
    assert s.visit_numbers == {encounter(v): v for v in ACC1_BY_VISIT}
    # the parts add up to the whole, in cents
    assert sum(t[4] for t in ACC1_BY_DAY.values()) == ACC1_USD[4]
    assert tuples(account(view, "ACC2").totals) == {"EUR": ACC2_EUR}


def test_accounts_are_found_by_number_id_and_patient(engine: Engine) -> None:
    view = billing(engine)
    acc1 = view.find_accounts("ACC1")[0]
    assert view.find_accounts(acc1.account_id) == [acc1]
    assert view.find_accounts("NOPE") == []
    numbers = [a.account_number for a in view.accounts_of([acc1.patient_id])]
    assert numbers == ["ACC1", "ACC2"]
    assert view.accounts_of([]) == [] and view.accounts_of([str(uuid4())]) == []


def test_merges_are_remembered_for_queries(engine: Engine) -> None:
    raw = dft("B9", [{1: "1", 2: "X1", 6: "CG", 7: "99213", 11: "1.00&USD"}], account="ACC7",
              mrn="MRN2")  # fmt: skip
    assert engine.ingestion.ingest(raw, "test").ack_code == "AA"
    assert engine.ingestion.ingest(a40("M1", survivor="MRN1", retired="MRN2"), "t").ack_code == "AA"
    engine.runner.catch_up()
    view = billing(engine)
    retired = view.find_accounts("ACC7")[0].patient_id
    survivor = view.find_accounts("ACC1")[0].patient_id
    assert view.merges() == {retired: survivor}


def test_replay_from_zero_equals_live_and_replaying_twice_changes_nothing(engine: Engine) -> None:
    spec = spec_for("billing")
    live = billing(engine)
    fresh = MemoryBillingView()
    assert PollingProjectionRunner(engine.ingestion, spec.project(fresh)).catch_up() > 0
    for number in ("ACC1", "ACC2"):
        assert account(fresh, number) == account(live, number)
    assert PollingProjectionRunner(engine.ingestion, spec.project(fresh)).catch_up() == 0
    assert account(fresh, "ACC1") == account(live, "ACC1")
    # a second delivery of an applied event fails on tracking and writes nothing
    n = engine.ingestion.recorder.select_notifications(1, 1, topics=spec.projection.topics)[0]
    event = engine.ingestion.mapper.to_domain_event(n)
    projection = spec.project(live)
    before = account(live, "ACC1")
    with pytest.raises(IntegrityError):
        projection.process_event(event, Tracking(engine.ingestion.name, n.id))
    assert account(live, "ACC1") == before


def test_payments_stored_as_charge_posted_by_the_previous_release_read_as_payments(
    engine: Engine,
) -> None:
    """Before PaymentPosted existed, PY and AJ were recorded as Account.ChargePosted."""
    acc = engine.ingestion.repository.get(UUID(billing(engine).find_accounts("ACC2")[0].account_id))
    assert isinstance(acc, Account)
    when = datetime(2024, 1, 5, tzinfo=UTC)
    for kind, amount in (("PY", "50.00"), ("AJ", "-1.99")):
        old = FinancialTransaction(
            transaction_id=f"OLD-{kind}",
            transaction_type=kind,
            code=Coded(kind),
            extended_amount=Money(Decimal(amount), "EUR"),
            transaction_date=when,
        )
        # What the previous release's post() emitted for PY and AJ.
        acc.trigger_event(
            Account.ChargePosted,
            encounter_id=None,
            visit_number="",
            transaction=old,
            occurred_at=when,
            source_message_id=uuid4(),
        )
    engine.ingestion.save(acc)
    engine.runner.catch_up()
    lines = {line.transaction_id: line for line in account(billing(engine), "ACC2").lines}
    assert (lines["OLD-PY"].kind, lines["OLD-PY"].balance_cents) == ("payment", -5000)
    assert (lines["OLD-AJ"].kind, lines["OLD-AJ"].balance_cents) == ("adjustment", -199)
    assert tuples(account(billing(engine), "ACC2").totals) == {
        "EUR": (9999, 0, 5000, -199, 9999 - 5000 - 199, 3)
    }


# The analysts' SQL in docs/analysts.md, run as written against the live tables.
ANALYST_SQL = {
    "account": """SELECT a.account_number, l.currency,
       SUM(CASE WHEN l.kind = 'charge' THEN l.amount_cents ELSE 0 END) AS charges_cents,
       SUM(CASE WHEN l.kind = 'credit' THEN ABS(l.amount_cents) ELSE 0 END) AS credits_cents,
       SUM(CASE WHEN l.kind = 'payment' THEN l.amount_cents ELSE 0 END) AS payments_cents,
       SUM(CASE WHEN l.kind = 'adjustment' THEN l.amount_cents ELSE 0 END) AS adjustments_cents,
       SUM(l.balance_cents) AS balance_cents
FROM billing_accounts_v1 a JOIN billing_lines_v1 l USING (account_id)
GROUP BY a.account_number, l.currency
ORDER BY a.account_number, l.currency;""",
    "day": """SELECT l.day, l.currency, COUNT(*) AS lines, SUM(l.balance_cents) AS balance_cents
FROM billing_accounts_v1 a JOIN billing_lines_v1 l USING (account_id)
WHERE a.account_number = 'ACC1'
GROUP BY l.day, l.currency
ORDER BY l.day, l.currency;""",
    "visit": """SELECT l.visit_number, l.currency, COUNT(*) AS lines,
       SUM(l.balance_cents) AS balance_cents
FROM billing_lines_v1 l
GROUP BY l.visit_number, l.currency
ORDER BY l.visit_number, l.currency;""",
    "code": """SELECT l.code_system, l.code, COUNT(*) AS lines, SUM(l.balance_cents) AS net_cents
FROM billing_lines_v1 l
WHERE l.kind IN ('charge', 'credit')
GROUP BY l.code_system, l.code
ORDER BY l.code_system, l.code;""",
    "diagnosis": """SELECT d.code AS icd10, COUNT(*) AS lines, SUM(l.balance_cents) AS net_cents
FROM billing_diagnoses_v1 d JOIN billing_lines_v1 l USING (account_id, seq)
GROUP BY d.code
ORDER BY d.code;""",
}


def _run(view: BillingView, sql: str) -> list[tuple]:
    with view.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
        c.execute(sql.rstrip(";"))
        return [tuple(int(v) if isinstance(v, Decimal) else v for v in r.values())
                if isinstance(r, dict) else tuple(r) for r in c.fetchall()]  # fmt: skip


def test_the_analysts_sql_examples_sum_exactly(durable_store_url: str) -> None:
    analysts = ANALYSTS.read_text()
    for sql in ANALYST_SQL.values():
        assert sql in analysts, sql.splitlines()[0]
    engine = build(Settings(store=durable_store_url), validator=FakeMessageValidator())
    try:
        for raw in MESSAGES:
            engine.ingestion.ingest(raw, "test")
        engine.runner.catch_up()
        view = billing(engine)
        assert _run(view, ANALYST_SQL["account"]) == [
            ("ACC1", "USD", *ACC1_USD[:5]),
            ("ACC2", "EUR", *ACC2_EUR[:5]),
        ]
        assert _run(view, ANALYST_SQL["day"]) == [
            (day, "USD", t[5], t[4]) for day, t in sorted(ACC1_BY_DAY.items())
        ]
        assert _run(view, ANALYST_SQL["visit"]) == [
            ("V1", "USD", 6, 17165),
            ("V2", "USD", 4, -8495),
            ("V3", "EUR", 1, 9999),
        ]
        by_code = {f"{r[0]}|{r[1]}": (r[2], r[3]) for r in _run(view, ANALYST_SQL["code"])}
        assert by_code["CPT|99213"] == (2, 13610) and by_code["CPT|80053"] == (2, 3555)
        assert by_code["CPT|85025"] == (2, 0) and by_code["HCPCS|G0008"] == (1, 9999)
        assert "LOCAL|PAY" not in by_code
        assert _run(view, ANALYST_SQL["diagnosis"]) == [("E11.9", 2, 31775), ("I10", 1, 27220)]
    finally:
        engine.close()


def test_a_crash_between_rows_and_commit_neither_loses_nor_doubles_a_line(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    try:
        for raw in MESSAGES:
            engine.ingestion.ingest(raw, "test")
        view = billing(engine)
        real = view.add_line

        def crashing(line, tracking):  # type: ignore[no-untyped-def]
            real(line, tracking)  # rows and position written, not yet committed...
            if line.transaction_id == "T6":
                raise RuntimeError("power cut")  # ...when the process dies

        monkeypatch.setattr(view, "add_line", crashing)
        try:  # the batch rolled back; one by one, the runner stops on the line that fails
            engine.runner.catch_up()
        except ProjectionFailed as failed:
            assert isinstance(failed.__cause__, RuntimeError)
        else:  # memory: no transaction to roll back, the rows stand and count as applied
            assert store_url == "memory:"
        monkeypatch.setattr(view, "add_line", real)
        engine.runner.catch_up()
        s = account(view, "ACC1")
        assert len(s.lines) == len({line.seq for line in s.lines}) == 10
        assert tuples(s.totals) == {"USD": ACC1_USD}
        assert tuples(account(view, "ACC2").totals) == {"EUR": ACC2_EUR}
    finally:
        engine.close()
