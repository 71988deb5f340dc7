"""Read latency with the access layer (token check, policy, access log) against without, one run.

    .venv/bin/python -m bench.read_auth [--patients 100000] [--reads 4000]

Builds a SQLite store with ``--patients`` registered patients (ADT^A01/A04
from bench.corpus), then times FHIR reads (``GET /fhir/Patient/{id}`` and
``GET /fhir/Patient?identifier=``) straight through the ASGI interface, so
the figures are the app's own time, not a client's:

- *without*: the same app with the access middleware taken out (no token, no
  policy, no access log; FastAPI's own middleware stays);
- *with*: the whole app: bearer JWT (ES256, embedded issuer) verified,
  policy row and scope checked, one access-log entry per patient buffered and
  stored in batches by the access log's flusher thread on the same store.

Requests alternate between the two, so drift (GC, cache warmth, the other
processes on the machine) hits both alike. The target is p95 within 1 ms.
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

from adapters.bootstrap import build
from adapters.http.access import AccessMiddleware
from adapters.http.app import create_app
from adapters.security.access_log import AccessLog, to_records
from bench.corpus import adt_messages
from engine.config import Settings
from tests import tokens
from tests.fakes import FakeMessageValidator


async def _call(app: Any, path: str, query: str, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(
    app: Any, plain: Any, targets: list[tuple[str, str]], reads: int
) -> dict[str, list[float]]:
    header = [(b"authorization", tokens.FULL_ACCESS["Authorization"].encode())]
    timings: dict[str, list[float]] = {"without": [], "with": []}
    for n in range(reads):
        path, query = targets[n % len(targets)]
        for name, target, headers in (("without", plain, []), ("with", app, header)):
            started = time.perf_counter()
            status = await _call(target, path, query, headers)
            timings[name].append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"{name}: {path}?{query} answered {status}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=4000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'carelog.db'}"
        engine = build(Settings(store=store), validator=FakeMessageValidator())
        started = time.perf_counter()
        messages = adt_messages(args.patients)
        for i in range(0, len(messages), 500):
            engine.ingestion.ingest_many([(m, "bench") for m in messages[i : i + 500]])
        engine.runner.catch_up()
        loaded = time.perf_counter() - started
        log = AccessLog(lambda entries: engine.ingestion.record_access(to_records(entries)))
        log.start()
        app = create_app(
            engine.http_views(), health=lambda: {"ready": True}, access=tokens.access(log)
        )
        plain = create_app(engine.views, health=lambda: {"ready": True})
        plain.user_middleware = [m for m in plain.user_middleware if m.cls is not AccessMiddleware]
        rng = random.Random(3)
        ids = [rng.randrange(args.patients) for _ in range(200)]
        targets = []
        for pid in ids:
            (record,) = engine.patients.find_by_identifier(str(100000 + pid), "GENHOSP")
            targets.append((f"/fhir/Patient/{record.patient_id}", ""))
            targets.append(("/fhir/Patient", f"identifier=GENHOSP|{100000 + pid}"))
        asyncio.run(_measure(app, plain, targets, min(500, args.reads)))  # warm-up
        timings = asyncio.run(_measure(app, plain, targets, args.reads))
        log.stop()
        engine.close()
    print(f"patients={args.patients} reads={args.reads} each (load {loaded:.1f} s)")
    for name, values in timings.items():
        print(
            f"{name:8s} p50={statistics.median(values):.3f} ms  p95={_pct(values, 0.95):.3f} ms"
            f"  p99={_pct(values, 0.99):.3f} ms"
        )
    delta = _pct(timings["with"], 0.95) - _pct(timings["without"], 0.95)
    print(f"p95 added by auth + access log: {delta:.3f} ms (target: within 1 ms)")
    print(f"access-log records stored: {log.stored}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
