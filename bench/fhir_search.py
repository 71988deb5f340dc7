"""FHIR search and read latency over filled read models: p50/p95 per search.

``python -m bench.fhir_search [--patients 10000] [--observations-per-patient 10]
[--queries 200] [--postgres DSN]``

The read models are filled directly through their commands (no events, no
HL7 parsing: building 100k patients through the feed would take hours on
this machine), then each search runs ``--queries`` times with varying values
through the ASGI app in-process (routing, the SQL, the FHIR mapping and the
JSON rendering; no socket). SQLite always; PostgreSQL with ``--postgres DSN``
(its public schema is DROPPED first: give it a database of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
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
from projections.observations.view import ReportRecord
from tests.fakes import FakeMessageValidator

FAMILIES = ["SMITH", "MÜLLER", "GARCIA", "NGUYEN", "JOHNSON", "DUBOIS", "ROSSI", "KOWALSKI",
            "OKAFOR", "TANAKA", "SILVA", "HANSEN", "BROWN", "LEE", "MARTIN", "WILSON"]  # fmt: skip
GIVENS = ["ANNA", "JOHN", "ZOË", "MARIA", "LUIS", "EMMA", "NOAH", "OLGA", "PAUL", "SARA"]
CODES = [("2345-7", "Glucose"), ("2951-2", "Sodium"), ("2823-3", "Potassium"),
         ("2160-0", "Creatinine"), ("718-7", "Hemoglobin")]  # fmt: skip
START = datetime(2024, 1, 1, tzinfo=UTC)


def fill(engine: Any, patients: int, per_patient: int) -> list[str]:
    """Registers ``patients`` patients with ``per_patient`` results each; their ids."""
    rng = random.Random(7)
    view, results = engine.views["patients"], engine.views["observations"]
    ids, position = [], 0
    for n in range(patients):
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
            report = ReportRecord(f"R{n}", f"ORD{n}", patient_id, "", Coded("24331-1"), "F", START)
            values = [
                ObservationValue(
                    str(k + 1),
                    "NM",
                    Coded(*CODES[k % len(CODES)], "LN"),
                    (str(k),),
                    Decimal(k),
                    units="mmol/L",
                    status="F",
                )
                for k in range(per_patient)
            ]
            position += 1
            results.add_report(report, values, START, "m", Tracking("bench", position))
    return ids


def measure(app: Any, paths: Callable[[int], str], queries: int) -> tuple[float, float, int]:
    """p50 and p95 in ms of ``queries`` GETs, and the entries of the last answer."""

    async def run() -> tuple[list[float], int]:
        transport = httpx.ASGITransport(app=app)
        times, entries = [], 0
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            for i in range(queries):
                began = time.perf_counter()
                response = await c.get(paths(i))
                times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.text
                entries = len(response.json().get("entry", []))
        return times, entries

    times, entries = asyncio.run(run())
    return statistics.median(times), statistics.quantiles(times, n=20)[18], entries


def searches(ids: list[str], rng: random.Random) -> dict[str, Callable[[int], str]]:
    pick = lambda: rng.choice(ids)  # noqa: E731
    n = len(ids)
    return {
        "Patient?identifier=": lambda i: f"/fhir/Patient?identifier=MRN{rng.randrange(n)}",
        "Patient?family= (prefix)": lambda i: (
            f"/fhir/Patient?family={rng.choice(FAMILIES)}{i % 1000}"
        ),
        "Patient?given=&family=": lambda i: (
            f"/fhir/Patient?given={rng.choice(GIVENS)[:3]}&family={rng.choice(FAMILIES)}{i % 1000}"
        ),
        "Patient?birthdate=eqYYYY-MM-DD": lambda i: (
            f"/fhir/Patient?birthdate={(START - timedelta(days=rng.randrange(365 * 90))).date()}"
        ),
        "Patient?family=&_count=10": lambda i: (
            f"/fhir/Patient?family={rng.choice(FAMILIES)}&_count=10"
        ),
        "Patient?name=&_summary=count": lambda i: (
            f"/fhir/Patient?name={rng.choice(GIVENS)}&_summary=count"
        ),
        "Patient/{id}": lambda i: f"/fhir/Patient/{pick()}",
        "Observation?patient=": lambda i: f"/fhir/Observation?patient={pick()}",
        "Observation?patient=&_include": lambda i: (
            f"/fhir/Observation?patient={pick()}&_include=Observation:patient"
        ),
        "Patient/{id}/$everything": lambda i: f"/fhir/Patient/{pick()}/$everything",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--observations-per-patient", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stores = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.postgres:
            stores.append(("postgres", args.postgres))
        for label, url in stores:
            if label == "postgres":
                import psycopg

                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            engine = build(Settings(store=url), validator=FakeMessageValidator())
            began = time.perf_counter()
            ids = fill(engine, args.patients, args.observations_per_patient)
            built = time.perf_counter() - began
            app = create_app(engine.views, health=lambda: {"ready": True})
            total = args.patients * args.observations_per_patient
            print(f"\n{label}: {args.patients} patients, {total} observations", end="")
            print(f" (filled in {built:.0f} s)")
            print(f"{'search':34} {'p50 ms':>8} {'p95 ms':>8} {'entries':>8}")
            for name, paths in searches(ids, random.Random(11)).items():
                p50, p95, entries = measure(app, paths, args.queries)
                print(f"{name:34} {p50:8.2f} {p95:8.2f} {entries:8}")
            engine.close()


if __name__ == "__main__":
    main()
