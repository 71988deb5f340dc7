"""HTTP over the billing and observation read models: /api/billing, FHIR ChargeItem, Observation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.chargeitem import ChargeItem
from fhir.resources.R4B.observation import Observation

from adapters.bootstrap import Engine, build
from adapters.http.app import create_app
from engine.config import Settings
from tests import tokens
from tests.asgi import get
from tests.fakes import FakeMessageValidator
from tests.integration.read_models.billing_scenario import MESSAGES, encounter
from tests.integration.read_models.test_observation_read_model import (
    CORRECTED,
    RESULTS,
)
from tests.messages import a40, dft, oru


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    for raw in (*MESSAGES, oru("L1", RESULTS, status="P"), oru("L2", [CORRECTED], status="C")):
        assert engine.ingestion.ingest(raw, "test").ack_code == "AA"
    engine.runner.catch_up()
    yield engine
    engine.close()


@pytest.fixture
def app(engine: Engine) -> Any:
    return create_app(engine.views, health=lambda: {"ready": True}, access=tokens.access())


def patient(engine: Engine, mrn: str = "MRN1") -> str:
    (record,) = engine.patients.find_by_identifier(mrn)
    return record.patient_id


def money(value: str, currency: str = "USD") -> dict[str, str]:
    return {"value": value, "currency": currency}


def no_floats(data: Any) -> bool:
    if isinstance(data, float):
        return False
    if isinstance(data, dict):
        return all(no_floats(v) for v in data.values())
    if isinstance(data, list):
        return all(no_floats(v) for v in data)
    return True


def test_an_account_with_its_lines_and_exact_totals(app: Any, engine: Engine) -> None:
    r = get(app, "/api/billing/accounts/ACC1")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert no_floats(body)
    assert (body["account"], body["patient_id"]) == ("ACC1", patient(engine))
    assert len(body["lines"]) == 10
    t1 = body["lines"][0]
    assert (t1["transaction_id"], t1["transaction_type"], t1["kind"]) == ("T1", "CG", "charge")
    assert t1["quantity"] == "2" and t1["unit_amount"] == money("136.10")
    assert t1["extended_amount"] == money("272.20") and t1["balance_effect"] == money("272.20")
    assert t1["code"] == {"code": "99213", "display": "Office visit", "system": "CPT"}
    assert [d["code"] for d in t1["diagnosis_codes"]] == ["I10", "E11.9"]
    assert t1["encounter_id"] == encounter("V1") and t1["source_message_id"]
    assert t1["transaction_date"] == "2024-01-01T00:00:00+00:00"
    reversal = body["lines"][2]
    assert (reversal["reversal"], reversal["quantity"]) == (True, "-1")
    assert reversal["extended_amount"] == money("-136.10")
    assert body["totals"] == [
        {
            "currency": "USD",
            "charges": money("181.95"),
            "credits": money("10.00"),
            "payments": money("80.00"),
            "adjustments": money("-5.25"),
            "balance": money("86.70"),
            "lines": 10,
        }
    ]
    days = {d["day"]: d["totals"][0]["balance"] for d in body["totals_by_day"]}
    assert days == {
        "2024-01-01": money("317.75"),
        "2024-01-02": money("-146.10"),
        "2024-01-03": money("-84.95"),
    }
    codes = {c["code"]: c["totals"][0]["balance"] for c in body["totals_by_code"]}
    assert codes["CPT|99213"] == money("136.10") and codes["CPT|85025"] == money("0.00")
    visits = {
        (v["visit_number"], v["encounter_id"]): v["totals"][0]["balance"]
        for v in body["totals_by_visit"]
    }
    assert visits == {
        ("V1", encounter("V1")): money("171.65"),
        ("V2", encounter("V2")): money("-84.95"),
    }
    assert t1["visit_number"] == "V1"
    by_id = get(app, f"/api/billing/accounts/{body['account_id']}")
    assert by_id.json() == body
    eur = get(app, "/api/billing/accounts/ACC2").json()
    assert eur["totals"][0]["balance"] == money("99.99", "EUR")


def test_unknown_and_ambiguous_accounts_are_problem_details(app: Any, engine: Engine) -> None:
    r = get(app, "/api/billing/accounts/NOPE")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404 and "NOPE" in r.json()["detail"]
    other = dft("B8", [{1: "1", 2: "Z1", 6: "CG", 7: "99213", 11: "5.00&USD"}],
                account="ACC1^^^OTHER")  # fmt: skip
    assert engine.ingestion.ingest(other, "test").ack_code == "AA"
    engine.runner.catch_up()
    r = get(app, "/api/billing/accounts/ACC1")
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"


def _bundle(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    data: dict[str, Any] = json.loads(r.text, parse_float=Decimal)
    Bundle.model_validate(json.loads(r.text))
    return data


def test_charge_items_for_a_patient(app: Any, engine: Engine) -> None:
    r = get(app, f"/fhir/ChargeItem?patient={patient(engine)}")
    bundle = _bundle(r)
    items = [e["resource"] for e in bundle["entry"]]
    assert bundle["total"] == len(items) == 8  # charges and credits; payments are not charges
    for item in items:
        ChargeItem.model_validate(item)
        assert item["subject"] == {"reference": f"Patient/{patient(engine)}"}
    by_tx = {i["identifier"][0]["value"]: i for i in items}
    t1 = by_tx["T1"]
    assert t1["status"] == "billable"
    assert t1["code"]["coding"][0] == {
        "code": "99213",
        "system": "http://www.ama-assn.org/go/cpt",
        "display": "Office visit",
    }
    assert t1["quantity"] == {"value": 2}
    assert t1["priceOverride"] == {"value": Decimal("272.20"), "currency": "USD"}
    assert '"priceOverride":{"value":272.20,"currency":"USD"}' in r.text  # exact, not 272.2
    assert t1["context"] == {"reference": f"Encounter/{encounter('V1')}"}
    assert t1["occurrenceDateTime"] == "2024-01-01T00:00:00Z"
    assert [c["coding"][0]["code"] for c in t1["reason"]] == ["I10", "E11.9"]
    assert t1["account"][0]["display"] == "ACC1"
    assert by_tx["T9"]["priceOverride"] == {"value": Decimal("99.99"), "currency": "EUR"}
    assert by_tx["T9"]["code"]["coding"][0]["system"] == "urn:oid:2.16.840.1.113883.6.285"
    # a charge and its full reversal cancel out; a partial reversal and a credit stay billable
    assert (by_tx["T10"]["status"], by_tx["T11"]["status"]) == ("entered-in-error",) * 2
    assert by_tx["T3"]["status"] == "billable" and by_tx["T3"]["quantity"]["value"] == -1
    assert by_tx["T4"]["priceOverride"]["value"] == Decimal("-10.00")
    billable = [i for i in items if i["status"] == "billable"]
    usd = sum(
        i["priceOverride"]["value"] for i in billable if i["priceOverride"]["currency"] == "USD"
    )
    assert usd == Decimal("171.95")  # charges 181.95 - credits 10.00
    same = get(app, f"/fhir/ChargeItem?patient=Patient/{patient(engine)}")
    assert [e["resource"] for e in _bundle(same)["entry"]] == items


def test_charge_item_and_observation_searches_refuse_bad_queries(app: Any) -> None:
    for resource in ("ChargeItem", "Observation"):
        empty = _bundle(get(app, f"/fhir/{resource}?patient=Patient/nobody"))
        assert (empty["total"], "entry" in empty) == (0, False)  # absent, never []
        for query in ("", "?patient=", "?subject=", "?patient=x&subject=y", "?patient=Patient/a/b"):
            r = get(app, f"/fhir/{resource}{query}")
            assert r.status_code == 400, query
            assert r.headers["content-type"] == "application/fhir+json"
            assert r.json()["resourceType"] == "OperationOutcome"


def test_a_merged_patients_charges_and_results_are_the_survivors(app: Any, engine: Engine) -> None:
    raw = dft("B9", [{1: "1", 2: "X1", 6: "CG", 7: "99213", 11: "1.00&USD"}], account="ACC7",
              mrn="MRN2")  # fmt: skip
    assert engine.ingestion.ingest(raw, "test").ack_code == "AA"
    lab = oru("L9", [RESULTS[0]], order="FL9", mrn="MRN2")
    assert engine.ingestion.ingest(lab, "t").ack_code == "AA"
    engine.runner.catch_up()
    retired = patient(engine, "MRN2")
    assert engine.ingestion.ingest(a40("M1", survivor="MRN1", retired="MRN2"), "t").ack_code == "AA"
    engine.runner.catch_up()
    survivor = patient(engine, "MRN1")
    items = [
        e["resource"] for e in _bundle(get(app, f"/fhir/ChargeItem?patient={survivor}"))["entry"]
    ]
    assert len(items) == 9 and {i["subject"]["reference"] for i in items} == {f"Patient/{survivor}"}
    assert "X1" in {i["identifier"][0]["value"] for i in items}
    merged_account = get(app, "/api/billing/accounts/ACC7").json()
    assert merged_account["patient_id"] == survivor != retired
    results = _bundle(get(app, f"/fhir/Observation?patient={survivor}"))
    assert results["total"] == 7
    from_retired = _bundle(get(app, f"/fhir/Observation?patient={retired}"))
    assert from_retired["entry"] == results["entry"]


def test_observations_for_a_patient(app: Any, engine: Engine) -> None:
    r = get(app, f"/fhir/Observation?patient=Patient/{patient(engine)}")
    bundle = _bundle(r)
    obs = [e["resource"] for e in bundle["entry"]]
    assert len(obs) == 6
    for o in obs:
        Observation.model_validate(o)
    chol, note, trig, color, text, titer = obs
    assert chol["status"] == "corrected"
    assert chol["code"]["coding"][0] == {
        "code": "2093-3",
        "system": "http://loinc.org",
        "display": "Cholesterol",
    }
    assert chol["valueQuantity"] == {
        "value": Decimal("201.50"),
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert (
        '"valueQuantity":{"value":201.50,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}'
        in r.text
    )
    assert chol["interpretation"][0]["coding"][0]["code"] == "H"
    assert chol["referenceRange"] == [
        {
            "text": "100-199",
            "low": {
                "value": 100,
                "unit": "mg/dL",
                "system": "http://unitsofmeasure.org",
                "code": "mg/dL",
            },
            "high": {
                "value": 199,
                "unit": "mg/dL",
                "system": "http://unitsofmeasure.org",
                "code": "mg/dL",
            },
        }
    ]
    assert chol["effectiveDateTime"] == "2024-01-01T12:00:00Z"
    assert chol["subject"] == {"reference": f"Patient/{patient(engine)}"}
    assert chol["encounter"]["reference"] == f"Encounter/{encounter('V1')}"
    assert (note["status"], note["valueString"]) == ("final", "fasting\nconfirmed")
    assert trig["valueQuantity"] == {
        "value": 150,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
        "comparator": ">",
    }
    assert [i["coding"][0]["code"] for i in trig["interpretation"]] == ["H", "A"]
    assert color["valueCodeableConcept"]["coding"][0]["code"] == "YEL"
    assert text["valueString"] == "line one\nline two"
    assert titer["status"] == "cancelled"
    assert titer["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 128}}
    assert len({o["id"] for o in obs}) == 6


def test_the_capability_statement_lists_both_searches(app: Any) -> None:
    metadata = get(app, "/fhir/metadata").json()
    CapabilityStatement.model_validate(metadata)
    resources = {r["type"]: r for r in metadata["rest"][0]["resource"]}
    patient = {"name": "patient", "type": "reference"}
    subject = {"name": "subject", "type": "reference"}
    assert resources["ChargeItem"]["searchParam"] == [
        patient,
        subject,
        {"name": "identifier", "type": "token"},
        {"name": "status", "type": "token"},
    ]
    assert resources["Observation"]["searchParam"] == [
        patient,
        subject,
        {"name": "code", "type": "token"},
        {"name": "category", "type": "token"},
        {"name": "status", "type": "token"},
        {"name": "date", "type": "date"},
        {"name": "value-quantity", "type": "quantity"},
        {"name": "_lastUpdated", "type": "date"},
        {"name": "_sort", "type": "special"},
    ]
