"""FHIR search and read latency over filled read models: p50/p95 per search, against targets.

``python -m bench.fhir_search [--patients 100000] [--observations-per-patient 10]
[--queries 200] [--postgres DSN]``

The read models are filled through the projections' own bulk path: the view
commands the projections apply per event (register a patient, add a lab
report with its results), grouped in batches of a few thousand as catch-up
and ``carelog rebuild`` group them (one transaction, one ``executemany`` per
statement kind). No events and no HL7 parsing: building 100k patients and 1M
observations through the feed would take hours on this machine. Then each
search runs ``--queries`` times with varying values through the ASGI app
in-process, access layer included (bearer token verified, policy checked; no
access log): routing, the SQL, the FHIR mapping and the JSON rendering, no
socket. SQLite always; PostgreSQL with ``--postgres DSN`` (its public schema
is DROPPED first: give it a database of its own).

Targets (issue 16): p95 under 10 ms for an indexed search, under 50 ms for one
that adds resources (``_include``, ``$everything``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from eventsourcing.persistence import Tracking

from adapters.bootstrap import build
from adapters.http.app import create_app
from engine.config import Settings
from engine.domain.values import Coded, Identifier, ObservationValue, PersonName
from projections.batching import shared_batch
from projections.observations.view import ReportRecord
from tests.fakes import FakeMessageValidator
from tests.tokens import FULL_ACCESS, access

FAMILIES = ["SMITH", "MÜLLER", "GARCIA", "NGUYEN", "JOHNSON", "DUBOIS", "ROSSI", "KOWALSKI",
            "OKAFOR", "TANAKA", "SILVA", "HANSEN", "BROWN", "LEE", "MARTIN", "WILSON"]  # fmt: skip
GIVENS = ["ANNA", "JOHN", "ZOË", "MARIA", "LUIS", "EMMA", "NOAH", "OLGA", "PAUL", "SARA"]
CODES = [("2345-7", "Glucose"), ("2951-2", "Sodium"), ("2823-3", "Potassium"),
         ("2160-0", "Creatinine"), ("718-7", "Hemoglobin")]  # fmt: skip
START = datetime(2024, 1, 1, tzinfo=UTC)


# Patients per transaction while filling. PostgreSQL's connections end a transaction
# idle for 5 s (eventsourcing's idle_in_transaction_session_timeout), and a batch's rows
# are built in Python before they are sent: smaller batches there on a loaded machine.
BATCH = {"sqlite": 2000, "postgres": 250}


@contextlib.contextmanager
def _batched(views: list[Any]) -> Iterator[None]:
    """One transaction for ``views`` where they share a file (SQLite), else one each."""
    with shared_batch(views), contextlib.ExitStack() as stack:
        for view in views:
            stack.enter_context(view.batch())
        yield


def fill(
    engine: Any, patients: int, per_patient: int, progress: bool = False, batch: int = 2000
) -> list[str]:
    """Registers ``patients`` patients with ``per_patient`` results each; their ids."""
    rng = random.Random(7)
    view, results = engine.views["patients"], engine.views["observations"]
    ids, position = [], 0
    began = time.perf_counter()
    for first in range(0, patients, batch):
        with _batched([view, results]):
            for n in range(first, min(first + batch, patients)):
                patient_id = f"{rng.getrandbits(128):032x}"
                ids.append(patient_id)
                birth = (START - timedelta(days=rng.randrange(365 * 90))).date().isoformat()
                name = PersonName(f"{rng.choice(FAMILIES)}{n % 1000}", rng.choice(GIVENS))
                position += 1
                view.register_patient(
                    patient_id,
                    [Identifier(f"MRN{n}", "HOSP", "MR")],
                    name,
                    birth,
                    rng.choice("FMU"),
                    START,
                    Tracking("bench", position),
                )
                if per_patient:
                    _results(results, n, patient_id, per_patient, position, rng)
        if progress and (first + batch) % 20_000 < batch:
            elapsed = time.perf_counter() - began
            print(f"  filled {len(ids):,} patients in {elapsed:.0f} s", flush=True)
    return ids


def _results(
    results: Any, n: int, patient_id: str, per_patient: int, position: int, rng: random.Random
) -> None:
    """One lab report of ``per_patient`` results, observed on one of 730 days."""
    observed = START + timedelta(days=rng.randrange(730), minutes=rng.randrange(1440))
    report = ReportRecord(f"R{n}", f"ORD{n}", patient_id, "", Coded("24331-1"), "F", observed)
    values = [
        ObservationValue(
            str(k + 1),
            "NM",
            Coded(*CODES[k % len(CODES)], "LN"),
            (str(k),),
            Decimal(k),
            units="mmol/L",
            status="F",
            observed_at=observed,
        )
        for k in range(per_patient)
    ]
    results.add_report(report, values, observed, "m", Tracking("bench", position))


def measure(app: Any, paths: Callable[[int], str], queries: int) -> tuple[float, float, int]:
    """p50 and p95 in ms of ``queries`` GETs, and the entries of the last answer."""

    async def run() -> tuple[list[float], int]:
        transport = httpx.ASGITransport(app=app)
        times, entries = [], 0
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=FULL_ACCESS
        ) as c:
            for i in range(queries):
                began = time.perf_counter()
                response = await c.get(paths(i))
                times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.text
                entries = len(response.json().get("entry", []))
        return times, entries

    times, entries = asyncio.run(run())
    return statistics.median(times), statistics.quantiles(times, n=20)[18], entries


INDEXED_MS = 10.0
INCLUDE_MS = 50.0


def searches(ids: list[str], rng: random.Random) -> dict[str, tuple[Callable[[int], str], float]]:
    """Each search: its paths (by query number) and its p95 target in ms."""
    pick = lambda: rng.choice(ids)  # noqa: E731
    n = len(ids)
    day = lambda: (START - timedelta(days=rng.randrange(365 * 90))).date()  # noqa: E731
    code = lambda: f"http://loinc.org|{rng.choice(CODES)[0]}"  # noqa: E731
    since = lambda: (START + timedelta(days=rng.randrange(730))).date()  # noqa: E731
    return {
        "Patient?identifier=": (
            lambda i: f"/fhir/Patient?identifier=MRN{rng.randrange(n)}",
            INDEXED_MS,
        ),
        "Patient?family= (prefix)": (
            lambda i: f"/fhir/Patient?family={rng.choice(FAMILIES)}{i % 1000}",
            INDEXED_MS,
        ),
        "Patient?given=&family=": (
            lambda i: (
                f"/fhir/Patient?given={rng.choice(GIVENS)[:3]}"
                f"&family={rng.choice(FAMILIES)}{i % 1000}"
            ),
            INDEXED_MS,
        ),
        "Patient?birthdate=YYYY-MM-DD": (lambda i: f"/fhir/Patient?birthdate={day()}", INDEXED_MS),
        "Patient?gender=&birthdate=": (
            lambda i: f"/fhir/Patient?gender={rng.choice(['male', 'female'])}&birthdate={day()}",
            INDEXED_MS,
        ),
        "Patient?gender=&_count=10": (
            lambda i: f"/fhir/Patient?gender={rng.choice(['male', 'female', 'unknown'])}&_count=10",
            INDEXED_MS,
        ),
        "Patient?gender=&_count=10&_total=none": (
            lambda i: (
                f"/fhir/Patient?gender={rng.choice(['male', 'female', 'unknown'])}"
                "&_count=10&_total=none"
            ),
            INDEXED_MS,
        ),
        "Patient?family=&_count=10": (
            lambda i: f"/fhir/Patient?family={rng.choice(FAMILIES)}&_count=10",
            INDEXED_MS,
        ),
        "Patient?name=&_summary=count": (
            lambda i: f"/fhir/Patient?name={rng.choice(GIVENS)}&_summary=count",
            INDEXED_MS,
        ),
        "Patient/{id}": (lambda i: f"/fhir/Patient/{pick()}", INDEXED_MS),
        "Observation?patient=": (lambda i: f"/fhir/Observation?patient={pick()}", INDEXED_MS),
        "Observation?patient=&code=": (
            lambda i: f"/fhir/Observation?patient={pick()}&code={code()}",
            INDEXED_MS,
        ),
        "Observation?patient=&date=ge": (
            lambda i: f"/fhir/Observation?patient={pick()}&date=ge{since()}",
            INDEXED_MS,
        ),
        "Observation?patient=&_include": (
            lambda i: f"/fhir/Observation?patient={pick()}&_include=Observation:patient",
            INCLUDE_MS,
        ),
        "Patient/{id}/$everything": (
            lambda i: f"/fhir/Patient/{pick()}/$everything",
            INCLUDE_MS,
        ),
    }


@dataclass(frozen=True)
class Row:
    """One search's figures."""

    search: str
    p50_ms: float
    p95_ms: float
    entries: int
    target_ms: float


@dataclass(frozen=True)
class Run:
    """One store's fill and searches."""

    store: str
    patients: int
    observations: int
    fill_s: float
    rows: list[Row]


def run(
    label: str, url: str, patients: int, per_patient: int, queries: int, progress: bool = False
) -> Run:
    """Fills a fresh store at ``url`` and measures every search on it."""
    if label == "postgres":
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine = build(Settings(store=url), validator=FakeMessageValidator())
    try:
        began = time.perf_counter()
        ids = fill(engine, patients, per_patient, progress, BATCH[label])
        built = time.perf_counter() - began
        if label == "postgres":
            import psycopg

            # Fresh tables, as autovacuum leaves them once settled: the planner's
            # statistics, and the visibility map an index-only scan (a count) needs.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        app = create_app(engine.views, health=lambda: {"ready": True}, access=access())
        rows = []
        for name, (paths, target) in searches(ids, random.Random(11)).items():
            p50, p95, entries = measure(app, paths, queries)
            rows.append(Row(name, p50, p95, entries, target))
            if progress:
                print(f"  {label} {name}: p95 {p95:.2f} ms", flush=True)
        return Run(label, patients, patients * per_patient, built, rows)
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--observations-per-patient", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stores = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.postgres:
            stores.append(("postgres", args.postgres))
        for label, url in stores:
            r = run(label, url, args.patients, args.observations_per_patient, args.queries, True)
            print(f"\n{label}: {r.patients} patients, {r.observations} observations", end="")
            print(f" (filled in {r.fill_s:.0f} s)")
            print(f"{'search':34} {'p50 ms':>8} {'p95 ms':>8} {'target':>8} {'entries':>8}")
            for row in r.rows:
                print(
                    f"{row.search:34} {row.p50_ms:8.2f} {row.p95_ms:8.2f} "
                    f"{row.target_ms:8.0f} {row.entries:8}"
                )


if __name__ == "__main__":
    main()
