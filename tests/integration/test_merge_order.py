"""Merges converge whatever order Kafka partitions deliver them in, on every backend.

A Kafka worker applies each patient's events in store order, but two patients'
events travel on different partitions, so a merge (A40: the retired patient's
``Patient.Merged``, the survivor's claims on its identifiers) can be applied
before the retired patient's own, older registration, and the second link of a
merge chain (B into C) before the first (A into B). Every catalog read model
must end up as a single in-order run leaves it. The events are those one
ingestion stored; they are fed to fresh views the way the worker feeds them
(one tracking name per partition), in store order and in adversarial and
random interleavings that keep each patient's own order.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from adapters.bootstrap import build, build_view
from adapters.kafka.relay import PatientKeys
from adapters.kafka.worker import tracking_name
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier
from projections.catalog import CATALOG
from tests.fakes import FakeMessageValidator
from tests.messages import a40, adt, dft, oru

CHOL = {1: "1", 2: "NM", 3: "2093-3^Chol^LN", 5: "180", 11: "F"}
CHARGE = {1: "1", 2: "T1", 6: "CG", 7: "99213^Visit^CPT", 10: "1", 11: "10.50&USD"}


def _result(control_id: str, order: str, mrn: str) -> bytes:
    """An ORU without a visit (the helper's PV1 names one visit for every patient)."""
    raw = oru(control_id, [CHOL], order=order, mrn=mrn)
    return b"\r".join(s for s in raw.split(b"\r") if not s.startswith(b"PV1"))


# Patient A is merged into B, then B into C; the feed goes on under the retired MRNs
# (for the survivor's visits: a retired patient's visits take no more messages).
MESSAGES = [
    adt("A04", "m1", mrn="MRNA", visit="VA", name="ALPHA^ANN", location="ED^1^A^HOSP"),
    adt("A04", "m2", mrn="MRNB", visit="VB", name="BETA^BO", location="ED^2^A^HOSP"),
    adt("A04", "m3", mrn="MRNC", visit="VC", name="GAMMA^CY", location="ED^3^A^HOSP"),
    _result("m4", "FA", "MRNA"),
    dft("m5", [CHARGE], account="ACCA", visit="VA", mrn="MRNA"),
    a40("m6", survivor="MRNB", retired="MRNA"),
    adt("A02", "m7", mrn="MRNA", visit="VB", location="WARD1^7^B^HOSP", prior_location="ED"),
    adt("A08", "m8", mrn="MRNA", name="ALPHA^ANNA", pv1=False),
    a40("m9", survivor="MRNC", retired="MRNB"),
    adt("A02", "m10", mrn="MRNB", visit="VC", location="ICU^1^A^HOSP", prior_location="ED"),
    _result("m11", "FB", "MRNA"),
    adt("A03", "m12", mrn="MRNA", visit="VC", discharge_time="20240103130000"),
]
MRNS = ("MRNA", "MRNB", "MRNC")


def _patient(mrn: str) -> str:
    return str(patient_id_for(Identifier(value=mrn, authority="HOSP", type_code="MR")))


def _stored_events(tmp_path: Path) -> tuple[list[tuple[str, int, Any]], str]:
    """(partition key, position, domain event) of everything one ingestion stored."""
    engine = build(Settings(store="memory:"), validator=FakeMessageValidator())
    for raw in MESSAGES:
        outcome = engine.ingestion.ingest(raw, "test")
        assert outcome.ack_code == "AA", outcome.text
    app = engine.ingestion
    keys = PatientKeys(app)
    notifications = app.recorder.select_notifications(1, 10_000)
    events = [(str(keys.key_of(n)), n.id, app.mapper.to_domain_event(n)) for n in notifications]
    engine.close()
    return events, app.name


def _in_order(events: list[Any], rng: random.Random) -> list[Any]:
    return list(events)


def _partitions(events: list[Any]) -> dict[str, list[Any]]:
    streams: dict[str, list[Any]] = {}
    for item in events:
        streams.setdefault(item[0], []).append(item)
    return streams


def _later_partitions_first(events: list[Any], rng: random.Random) -> list[Any]:
    """Each partition whole, the one that started last first: merges before registrations."""
    return [item for stream in reversed(_partitions(events).values()) for item in stream]


def _random_interleaving(events: list[Any], rng: random.Random) -> list[Any]:
    """A random merge of the partitions' streams, each kept in its own order."""
    streams = [list(s) for s in _partitions(events).values()]
    order = []
    while streams:
        stream = rng.choice(streams)
        order.append(stream.pop(0))
        if not stream:
            streams.remove(stream)
    return order


def _snapshot(views: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    """What the read models answer about every patient, visit and identifier involved."""
    patients = [_patient(m) for m in MRNS]
    encounters = sorted(
        {str(e.originator_id) for _, _, e in events if type(e).__qualname__.startswith("Enc")}
    )
    assert len(encounters) == 3
    billing, observations = views["billing"], views["observations"]
    return {
        "patients": [views["patients"].get_patient(p) for p in patients],
        "identifiers": [views["patients"].find_by_identifier(m) for m in MRNS],
        "visits": [views["encounters"].visits(p) for p in patients],
        "encounters": [views["encounters"].encounter(e) for e in encounters],
        "survivors": [views["encounters"].survivor_of(p) for p in patients],
        "queue": [views["queue"].visit(e) for e in encounters],
        "history": [views["history"].history(p) for p in patients],
        "history_merges": [views["history"].merged_into(p) for p in patients],
        "accounts": billing.accounts_of(patients),
        "billing_merges": billing.merges(),
        "observations": observations.observations_of(patients),
        "observation_merges": observations.merges(),
    }


def _tables(store_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row (no tracking tables), where the backend has tables."""
    tables = [t for spec in CATALOG for t in spec.tables]
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    if store_url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store_url) as conn:
            return {
                t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # type: ignore[arg-type]
                for t in tables
            }
    return {}


def _reset(store_url: str, run: int, tmp_path: Path) -> str:
    """A store with no read models: a new SQLite file, or PostgreSQL's tables dropped."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / f'run{run}.db'}"
    if store_url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            for spec in CATALOG:
                for table in (*spec.tables, f"{spec.name}_tracking"):
                    conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")  # type: ignore[arg-type]
    return store_url


def _feed(store_url: str, app_name: str, order: list[Any]) -> tuple[dict[str, Any], Any]:
    """Fresh catalog views fed ``order`` as the worker feeds them, and the snapshot."""
    settings = Settings(store=store_url)
    env = settings.eventsourcing_env()
    views = {spec.key: build_view(spec, settings, env) for spec in CATALOG}
    partitions = {key: n for n, key in enumerate(dict.fromkeys(k for k, _, _ in order))}
    projections = [spec.project(views[spec.key]) for spec in CATALOG]
    for key, position, event in order:
        tracking = Tracking(tracking_name(app_name, partitions[key]), position)
        for projection in projections:
            if not projection.topics or get_topic(type(event)) in projection.topics:
                projection.process_event(event, tracking)
            else:
                projection.view.insert_tracking(tracking)
    snapshot = _snapshot(views, order), _tables(store_url)
    for view in views.values():
        close = getattr(view, "close", None)
        if close is not None:
            close()
    return views, snapshot


Interleaving = Callable[[list[Any], random.Random], list[Any]]


def test_merges_converge_in_any_cross_partition_order(store_url: str, tmp_path: Path) -> None:
    events, app_name = _stored_events(tmp_path)
    positions = {k: [p for key, p, _ in events if key == k] for k, _, _ in events}
    assert len(positions) >= 3 and all(p == sorted(p) for p in positions.values())

    orders: list[tuple[str, Interleaving]] = [("later partitions first", _later_partitions_first)]
    orders += [(f"random {seed}", _random_interleaving) for seed in range(3)]
    reference_url = _reset(store_url, 0, tmp_path)
    _, expected = _feed(reference_url, app_name, _in_order(events, random.Random(0)))
    patients, _identifiers = expected[0]["patients"], expected[0]["identifiers"]
    # The in-order result is the merged one: A and B retired, C holds every MRN.
    survivor = _patient("MRNC")
    assert [p.merged_into for p in patients] == [_patient("MRNB"), survivor, ""]
    assert {i.value for i in patients[2].identifiers} == set(MRNS)
    assert all(not p.identifiers for p in patients[:2])
    assert expected[0]["queue"][0].patient_id == survivor

    for run, (label, interleave) in enumerate(orders, start=1):
        seed = run
        order = interleave(events, random.Random(seed))
        assert order != events, label
        url = _reset(store_url, run, tmp_path)
        _, actual = _feed(url, app_name, order)
        assert actual[0] == expected[0], label
        assert actual[1] == expected[1], label


def test_a_patient_index_from_before_claim_positions_is_upgraded(
    durable_store_url: str, tmp_path: Path
) -> None:
    """A database whose identifier table predates ``claimed_at`` and ``merged_from`` gets
    them; old claims rank first, and old identifiers count as the patient's own."""
    from projections.patients.sql import create_statements

    old = [
        s.replace("claimed_at BIGINT NOT NULL DEFAULT 0, ", "").replace(
            "merged_from TEXT NOT NULL DEFAULT '', ", ""
        )
        for s in create_statements("TEXT")
    ]
    assert all("claimed_at" not in s and "merged_from" not in s for s in old)
    rows = [
        "INSERT INTO patients_v1 (patient_id, updated_at) VALUES ('p-old', '2024-01-01T00:00:00')",
        "INSERT INTO patients_v1 (patient_id, updated_at) VALUES ('p-new', '2024-01-01T00:00:00')",
        "INSERT INTO patient_identifiers_v1 VALUES ('MRNX', 'HOSP', '', '', 'MR', 'p-old')",
    ]
    if durable_store_url.startswith("sqlite"):
        path = Path(durable_store_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as conn:
            for statement in (*old, *rows):
                conn.execute(statement)
    else:
        import psycopg

        with psycopg.connect(durable_store_url, autocommit=True) as conn:
            for statement in (*old, *rows):
                conn.execute(statement)  # type: ignore[arg-type]
    settings = Settings(store=durable_store_url)
    spec = next(s for s in CATALOG if s.key == "patients")
    view = build_view(spec, settings, settings.eventsourcing_env())
    mrn = Identifier(value="MRNX", authority="HOSP", type_code="MR")
    (found,) = view.find_by_identifier("MRNX")
    assert found.patient_id == "p-old" and found.old_identifiers == frozenset()
    view.add_identifier("p-new", mrn, Tracking("carelog#0", 5))
    view.add_identifier("p-old", mrn, Tracking("carelog#1", 3))  # older, applied late
    assert [p.patient_id for p in view.find_by_identifier("MRNX")] == ["p-new"]


def test_a_patient_index_from_before_details_is_upgraded(durable_store_url: str) -> None:
    """A patients_v1 table without ``details`` (the previous release) gets the column."""
    from engine.domain.values import PatientDetails, PersonName
    from projections.patients.sql import create_statements

    old = [s.replace(", details TEXT NOT NULL DEFAULT ''", "") for s in create_statements("TEXT")]
    assert all("details" not in s for s in old)
    row = "INSERT INTO patients_v1 (patient_id, updated_at) VALUES ('p-old', '2024-01-01T00:00:00')"
    if durable_store_url.startswith("sqlite"):
        path = Path(durable_store_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as conn:
            for statement in (*old, row):
                conn.execute(statement)
    else:
        import psycopg

        with psycopg.connect(durable_store_url, autocommit=True) as conn:
            for statement in (*old, row):
                conn.execute(statement)  # type: ignore[arg-type]
    settings = Settings(store=durable_store_url)
    spec = next(s for s in CATALOG if s.key == "patients")
    view = build_view(spec, settings, settings.eventsourcing_env())
    before = view.get_patient("p-old")
    assert before is not None and before.details == PatientDetails()
    details = PatientDetails(other_names=(PersonName("SMITH", use="M"),), deceased="N")
    when = datetime(2024, 1, 2, tzinfo=UTC)
    view.update_demographics("p-old", PersonName("DOE"), "", "F", when, Tracking("c", 1), details)
    after = view.get_patient("p-old")
    assert after is not None and after.details == details
