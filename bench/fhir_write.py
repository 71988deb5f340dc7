"""FHIR write throughput: transaction Bundles over HTTP, and `carelog import` of NDJSON.

``python -m bench.fhir_write [--bundles N] [--clients 16] [--import-resources N]
[--postgres DSN]``

- POST /fhir: each of ``--clients`` connections sends transaction Bundles of 10
  entries (a Patient, an Encounter in progress, 8 Observations; new identifiers
  every time) one after another to a fresh `carelog serve`; resources/s over
  the whole run and p50/p99 latency per Bundle.
- import: ``--import-resources`` Patients in one NDJSON file, loaded by
  `carelog import` into a fresh store; resources/s of the whole command
  (start-up included).

SQLite always; PostgreSQL with ``--postgres DSN`` (its public schema is
DROPPED first: give it a database of its own). Prints a table with the
carelog process's CPU time per resource (``res/CPU-s``: what one core would
sustain; the server's only, not PostgreSQL's) and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

_ROOT = Path(__file__).resolve().parent.parent
CARELOG = str(Path(sys.executable).parent / "carelog")
HOSP = "urn:carelog:assigning-authority:HOSP"


def _bundle(n: int) -> dict[str, Any]:
    mrn, visit = f"B{n}", f"BV{n}"
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": HOSP, "value": mrn}],
        "name": [{"family": f"FAM{n}", "given": ["GIVEN"]}],
        "gender": "female",
        "birthDate": "1980-01-31",
    }
    subject = {"reference": "urn:uuid:p"}
    encounter = {
        "resourceType": "Encounter",
        "identifier": [{"system": HOSP, "value": visit}],
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "subject": subject,
        "location": [
            {
                "location": {"identifier": {"system": "urn:carelog:location", "value": "ED"}},
                "status": "active",
            }
        ],
    }
    entries = [
        {
            "fullUrl": "urn:uuid:p",
            "resource": patient,
            "request": {"method": "POST", "url": "Patient"},
        },
        {"resource": encounter, "request": {"method": "POST", "url": "Encounter"}},
    ]
    for k in range(8):
        observation = {
            "resourceType": "Observation",
            "identifier": [{"system": "urn:carelog:order", "value": f"O{n}/{k + 1}/C{k}"}],
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": f"C{k}"}]},
            "subject": subject,
            "valueQuantity": {"value": 5.4 + k, "unit": "mmol/L"},
            "effectiveDateTime": "2024-01-01T10:00:00+00:00",
        }
        entries.append(
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}}
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class _Serve:
    """`carelog serve` on a store, HTTP on a port the OS picks."""

    def __init__(self, store: str) -> None:
        cmd = [CARELOG, "serve", "--store", store, "--mllp", "127.0.0.1:0", "--http", "127.0.0.1:0"]
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, "CARELOG_LOG_LEVEL": "info"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.http_port = 0
        ready = threading.Event()

        def drain() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                if not self.http_port:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if record.get("event") == "serve.ready":
                        self.http_port = int(record["http_port"])
                        ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(60) or not self.http_port:
            self.stop()
            raise RuntimeError("carelog serve did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


async def _client(url: str, numbers: list[int], latencies: list[float]) -> int:
    failed = 0
    async with httpx.AsyncClient(timeout=60) as client:
        for n in numbers:
            body = json.dumps(_bundle(n)).encode()
            started = time.perf_counter()
            response = await client.post(
                url,
                content=body,
                headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"},
            )
            latencies.append((time.perf_counter() - started) * 1000)
            failed += response.status_code != 200
    return failed


def post_fhir(store: str, bundles: int, clients: int) -> dict[str, Any]:
    server = _Serve(store)
    try:
        url = f"http://127.0.0.1:{server.http_port}/fhir"
        latencies: list[float] = []
        per = [list(range(c, bundles, clients)) for c in range(clients)]

        async def run() -> int:
            results = await asyncio.gather(*(_client(url, p, latencies) for p in per))
            return sum(results)

        cpu_before = _cpu_seconds(server.proc.pid)
        started = time.perf_counter()
        failed = asyncio.run(run())
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(server.proc.pid) - cpu_before
    finally:
        server.stop()
    latencies.sort()
    return {
        "resources_per_s": bundles * 10 / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "failed": failed,
        "cpu_ms_per_resource": cpu * 1000 / (bundles * 10),
    }


def import_ndjson(store: str, resources: int, tmp: Path) -> dict[str, Any]:
    path = tmp / "Patient.ndjson"
    with path.open("w") as f:
        for n in range(resources):
            patient = {
                "resourceType": "Patient",
                "identifier": [{"system": HOSP, "value": f"I{n}"}],
                "name": [{"family": f"FAM{n}", "given": ["GIVEN"]}],
                "birthDate": "1980-01-31",
            }
            f.write(json.dumps(patient) + "\n")
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(
        [CARELOG, "import", str(path), "--store", store],
        capture_output=True,
        text=True,
        env={**os.environ, "CARELOG_LOG_LEVEL": "warning"},
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return {
        "resources_per_s": resources / elapsed,
        "summary": done.stdout.strip(),
        "cpu_ms_per_resource": cpu * 1000 / resources,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reset_postgres(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=320, help="transaction Bundles per store")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--import-resources", type=int, default=5000, help="100000: full run")
    parser.add_argument("--postgres", help="a PostgreSQL DSN whose public schema may be dropped")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stores = [("sqlite", lambda name: f"sqlite:///{Path(tmp) / name}.db")]
        if args.postgres:

            def pg(_: str) -> str:
                _reset_postgres(args.postgres)
                return str(args.postgres)

            stores.append(("postgres", pg))
        for backend, store in stores:
            post = post_fhir(store("post"), args.bundles, args.clients)
            rows.append((backend, "POST /fhir", post))
            loaded = import_ndjson(store("import"), args.import_resources, Path(tmp))
            rows.append((backend, "carelog import", loaded))
    print(
        f"{'store':9} {'path':15} {'resources/s':>11} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'CPU ms/res':>10} {'res/CPU-s':>9}"
    )
    for backend, path, r in rows:
        p50 = f"{r['p50_ms']:8.1f}" if "p50_ms" in r else f"{'':8}"
        p99 = f"{r['p99_ms']:8.1f}" if "p99_ms" in r else f"{'':8}"
        cpu = r["cpu_ms_per_resource"]
        print(
            f"{backend:9} {path:15} {r['resources_per_s']:11.0f} {p50} {p99}"
            f" {cpu:10.2f} {1000 / cpu if cpu else 0:9.0f}"
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
