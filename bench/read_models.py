"""Read latency of the HTTP read models with 100k patients loaded (SQLite, in-process).

Loads N patients as real HL7: an A04 registration each, spread over L
locations, then an A03 discharge for all but the last ``waiting`` at each
location (so queues have realistic lengths while the tables hold every
visit). Messages go straight through ``Ingestion.ingest_many`` (group commit,
native validator) and the projection runner catches up, as in `carelog serve`.
Then it times sequential requests to the ASGI app in-process (no sockets):
``/api/queue/{location}``, ``/api/queue/{location}/stats``, FHIR Patient
read and search, FHIR Encounter search, and ``/health`` as the floor (the
framework's own cost), reporting p50/p95 in ms. Target: p95 under 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from adapters.bootstrap import build
from adapters.http.app import create_app
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier

__all__ = ["main", "messages", "run"]


def _stamp(n: int) -> str:
    minute = n // 10  # ten registrations a minute, from 2024-03-01 00:00
    day, rest = divmod(minute, 24 * 60)
    return f"202403{1 + day % 28:02d}{rest // 60:02d}{rest % 60:02d}00"


def _pv1(location: str, admission_type: str, visit: str) -> str:
    fields = ["1", "E", location, admission_type] + [""] * 14 + [visit]
    return "PV1|" + "|".join(fields)


def messages(patients: int, locations: int, waiting: int, *, seed: int = 11) -> list[bytes]:
    """Registrations for ``patients``, then discharges of all but ``waiting`` per location."""
    rng = random.Random(seed)
    out = []
    last_at: dict[int, list[int]] = {loc: [] for loc in range(locations)}
    for n in range(patients):
        loc = n % locations
        last_at[loc].append(n)
        when = _stamp(n)
        out.append(
            "\r".join(
                [
                    f"MSH|^~\\&|EPIC|GENHOSP|CARELOG|GENHOSP|{when}||ADT^A04^ADT_A01|"
                    f"R{n:08d}|P|2.5.1",
                    f"EVN|A04|{when}",
                    f"PID|1||{100000 + n}^^^GENHOSP^MR||PATIENT^P{n}^Q||19700101|"
                    f"{rng.choice('FM')}",
                    _pv1(
                        f"LOC{loc:02d}^{rng.randrange(1, 40)}^A^GENHOSP",
                        rng.choice("EURRR"),
                        f"V{n:08d}^^^GENHOSP^VN",
                    ),
                    f"PV2|||^COMPLAINT||||||||||||||||||||||{rng.choice(['', '', '1', '2', '3'])}",
                ]
            ).encode()
            + b"\r"
        )
    for loc, ns in last_at.items():
        for n in ns[: max(len(ns) - waiting, 0)]:
            when = _stamp(n + 30)  # discharged three minutes' worth of arrivals later
            out.append(
                "\r".join(
                    [
                        f"MSH|^~\\&|EPIC|GENHOSP|CARELOG|GENHOSP|{when}||ADT^A03^ADT_A03|"
                        f"D{n:08d}|P|2.5.1",
                        f"EVN|A03|{when}",
                        f"PID|1||{100000 + n}^^^GENHOSP^MR||PATIENT^P{n}^Q||19700101|",
                        _pv1(f"LOC{loc:02d}", "", f"V{n:08d}^^^GENHOSP^VN"),
                    ]
                ).encode()
                + b"\r"
            )
    return out


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


async def _time_paths(app: Any, paths: dict[str, list[str]], rounds: int) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    results = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name, urls in paths.items():
            for url in urls[:20]:  # warm up
                (await client.get(url)).raise_for_status()
            samples = []
            for i in range(rounds):
                url = urls[i % len(urls)]
                t0 = time.perf_counter()
                r = await client.get(url)
                samples.append(time.perf_counter() - t0)
                r.raise_for_status()
            p50, p95 = _percentiles(samples)
            results[name] = {"p50_ms": p50, "p95_ms": p95, "bytes": len(r.content)}
    return results


def run(patients: int, locations: int, waiting: int, rounds: int) -> dict[str, Any]:
    """Loads the store, then times each read path; returns load and latency figures."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = build(Settings(store=f"sqlite:///{Path(tmp) / 'bench.db'}"))
        batch = messages(patients, locations, waiting)
        t0 = time.perf_counter()
        for i in range(0, len(batch), 1000):
            outcomes = engine.ingestion.ingest_many([(m, "bench") for m in batch[i : i + 1000]])
            bad = [o for o in outcomes if o.ack_code != "AA"]
            if bad:
                raise SystemExit(f"load failed: {bad[0].ack_code} {bad[0].faults}")
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        applied = engine.runner.catch_up()
        project_s = time.perf_counter() - t0
        app = create_app(engine.views, health=lambda: {"ready": True})
        rng = random.Random(3)
        sample = [rng.randrange(patients) for _ in range(200)]
        ids = [str(patient_id_for(Identifier(str(100000 + n), "GENHOSP", "MR"))) for n in sample]
        paths = {
            "/health (floor)": ["/health"],
            "/api/queue/{location}": [f"/api/queue/LOC{n:02d}" for n in range(locations)],
            "/api/queue/{location}/stats": [
                f"/api/queue/LOC{n:02d}/stats?date=2024-03-02" for n in range(locations)
            ],
            "/fhir/Patient/{id}": [f"/fhir/Patient/{i}" for i in ids],
            "/fhir/Patient?identifier=": [
                f"/fhir/Patient?identifier=GENHOSP|{100000 + n}" for n in sample
            ],
            "/fhir/Encounter?patient=": [f"/fhir/Encounter?patient={i}" for i in ids],
        }
        latencies = asyncio.run(_time_paths(app, paths, rounds))
        queue_length = len(engine.views["queue"].queued("LOC00"))
        engine.close()
    return {
        "messages": len(batch),
        "ingest_msg_per_s": len(batch) / ingest_s,
        "events_applied": applied,
        "project_events_per_s": applied / project_s,
        "queue_length": queue_length,
        "latencies": latencies,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument("--waiting", type=int, default=40, help="left waiting per location")
    parser.add_argument("--rounds", type=int, default=2000, help="requests per path")
    args = parser.parse_args(argv)
    r = run(args.patients, args.locations, args.waiting, args.rounds)
    print(
        f"loaded {args.patients} patients: {r['messages']} messages at "
        f"{r['ingest_msg_per_s']:.0f} msg/s; {r['events_applied']} projection applications at "
        f"{r['project_events_per_s']:.0f}/s; {r['queue_length']} waiting at LOC00"
    )
    print(f"{'path':<30} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>7}")
    for path, figures in r["latencies"].items():
        print(
            f"{path:<30} {figures['p50_ms']:>8.2f} {figures['p95_ms']:>8.2f} {figures['bytes']:>7}"
        )


if __name__ == "__main__":
    main()
