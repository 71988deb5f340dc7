"""Latency of the sorted, keyset-paged and filtered FHIR searches: p50/p95 per search.

``python -m bench.fhir_search_sorted [--patients 10000] [--observations-per-patient 10]
[--queries 200]``

Fills SQLite read models as ``bench.fhir_search`` does (through the views'
commands), then runs each search ``--queries`` times through the app
in-process with a full-access token: ``_sort`` first pages, pages deep in a
sort reached by ``next`` links (keyset: no offset to skip), ``previous``
pages, ``_lastUpdated``, Observation ``value-quantity`` and DiagnosticReport
with ``_include``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from adapters.bootstrap import build
from adapters.http.app import create_app
from bench.fhir_search import FAMILIES, fill
from engine.config import Settings
from tests.fakes import FakeMessageValidator
from tests.tokens import FULL_ACCESS, access


def _get(app: Any, paths: list[str]) -> tuple[list[float], list[dict[str, Any]]]:
    async def run() -> tuple[list[float], list[dict[str, Any]]]:
        transport = httpx.ASGITransport(app=app)
        times, bodies = [], []
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=FULL_ACCESS
        ) as c:
            for path in paths:
                began = time.perf_counter()
                response = await c.get(path)
                times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.text
                bodies.append(response.json())
        return times, bodies

    return asyncio.run(run())


def _link(body: dict[str, Any], relation: str) -> str:
    found = [x["url"] for x in body["link"] if x["relation"] == relation]
    return found[0].removeprefix("http://bench") if found else ""


def searches(ids: list[str], rng: random.Random, n: int) -> dict[str, Callable[[int], str]]:
    def pick() -> str:
        return rng.choice(ids)

    return {
        "Patient?_sort=family&_count=50": lambda i: "/fhir/Patient?_sort=family&_count=50",
        "Patient?_sort=-birthdate&_count=50": lambda i: "/fhir/Patient?_sort=-birthdate&_count=50",
        "Patient?family=&_sort=birthdate": lambda i: (
            f"/fhir/Patient?family={rng.choice(FAMILIES)}{i % 1000}&_sort=birthdate&_count=20"
        ),
        "Patient?_lastUpdated=ge&_count=20": lambda i: (
            "/fhir/Patient?_lastUpdated=ge2024-01-01&_count=20"
        ),
        "Patient?_revinclude=Observation": lambda i: (
            f"/fhir/Patient?identifier=MRN{rng.randrange(n)}&_revinclude=Observation:patient"
        ),
        "Observation?patient=&value-quantity": lambda i: (
            f"/fhir/Observation?patient={pick()}&value-quantity=gt4"
        ),
        "DiagnosticReport?patient=&_include": lambda i: (
            f"/fhir/DiagnosticReport?patient={pick()}&_include=DiagnosticReport:result"
        ),
    }


def _row(name: str, times: list[float], entries: int) -> None:
    p95 = statistics.quantiles(times, n=20)[18]
    print(f"{name:40} {statistics.median(times):8.2f} {p95:8.2f} {entries:8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--observations-per-patient", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'b.db'}"
        engine = build(Settings(store=url), validator=FakeMessageValidator())
        ids = fill(engine, args.patients, args.observations_per_patient)
        app = create_app(engine.views, health=lambda: {"ready": True}, access=access())
        print(f"sqlite: {args.patients} patients, {args.patients * args.observations_per_patient}")
        print(f"{'search':40} {'p50 ms':>8} {'p95 ms':>8} {'entries':>8}")
        rng = random.Random(11)
        for name, paths in searches(ids, rng, args.patients).items():
            times, bodies = _get(app, [paths(i) for i in range(args.queries)])
            _row(name, times, len(bodies[-1].get("entry", [])))
        # Deep pages: walk next links of _sort=family&_count=50, timing each page.
        url, pages = "/fhir/Patient?_sort=family&_count=50", []
        for _ in range(args.queries):
            times, (body,) = _get(app, [url])
            pages.append((times[0], body))
            url = _link(body, "next")
            if not url:
                break
        _row("next links, _sort=family (page by page)", [t for t, _ in pages], 50)
        back = _link(pages[-1][1], "previous")
        times, _ = _get(app, [back] * args.queries)
        _row("a previous link, deep in _sort=family", times, 50)
        engine.close()


if __name__ == "__main__":
    main()
