"""Scale-out benchmark: MLLP ingest into PostgreSQL (one and two `carelog serve`) vs SQLite.

All runs use the same corpus, the same number of stop-and-wait connections
(16 by default, split across the processes) and the same machine, in one
run, so the ratios mean something even where the absolute figures are noisy.
The last run adds ``--kafka`` and reports the relay's lag from commit to
the broker's acknowledgement (p99 over the run, from /metrics).

Needs the test services: ``bash .ci/services.sh up && set -a && . var/services/env``
(or ``make bench-scale``, which does that).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from adapters.mllp.client import MLLPClient, ack_code_of
from bench.corpus import adt_messages
from tests.e2e.server import ServeProcess


def _reset(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _metric(base_url: str, name: str) -> float:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return float("nan")


def run(
    store: str, processes: int, count: int, connections: int, kafka: str = ""
) -> dict[str, float]:
    """Sends ``count`` messages over ``connections`` spread over ``processes`` servers."""
    messages = adt_messages(count)
    env = {"CARELOG_KAFKA_TOPIC": f"bench-{uuid.uuid4().hex[:8]}"} if kafka else {}
    extra = ("--kafka", kafka) if kafka else ()
    servers = [ServeProcess(store, *extra, env=env).start() for _ in range(processes)]
    latencies: list[float] = []
    codes: list[str] = []
    lock = threading.Lock()

    def worker(port: int, chunk: list[bytes]) -> None:
        with MLLPClient("127.0.0.1", port, timeout_s=60) as client:
            for m in chunk:
                t0 = time.perf_counter()
                code = ack_code_of(client.send(m))
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    codes.append(code)

    chunks = [messages[i::connections] for i in range(connections)]
    threads = [
        threading.Thread(target=worker, args=(servers[i % processes].mllp_port, c))
        for i, c in enumerate(chunks)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    lag = float("nan")
    if kafka:
        time.sleep(1.0)  # the last batch reaches the broker
        lags = [_metric(s.base_url, "carelog_relay_lag_p99_seconds") for s in servers]
        lag = max(x for x in lags if x == x)  # the leader's; the others publish nothing
    for s in servers:
        s.stop()
    latencies.sort()
    return {
        "accepted": codes.count("AA") + codes.count("CA"),
        "msg_per_s": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "relay_lag_p99_ms": lag * 1000,
    }


def worker_catch_up(dsn: str, kafka: str, count: int, workers: int) -> tuple[int, float]:
    """Seconds ``workers`` `carelog worker` launched together take to apply a full topic.

    The clock runs from the launch (process and faust start-up, joining the
    consumer group included) until the patient index holds every patient of
    the corpus. Returns (events, seconds).
    """
    import psycopg

    from tests.e2e.workers import WorkerProcess

    _reset(dsn)
    env = {
        "CARELOG_KAFKA_TOPIC": f"bench-{uuid.uuid4().hex[:8]}",
        "CARELOG_KAFKA_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
    }
    server = ServeProcess(dsn, "--kafka", kafka, env=env).start()
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=60) as client:
        for m in adt_messages(count):
            client.send(m)
    deadline = time.monotonic() + 60
    while _metric(server.base_url, "carelog_relay_lag_p99_seconds") == 0.0:
        time.sleep(0.1)  # until the relay has published something
    with psycopg.connect(dsn, autocommit=True) as conn:
        head = conn.execute("SELECT max(notification_id) FROM carelog_events").fetchone()[0]
        while time.monotonic() < deadline:
            (published,) = conn.execute(
                "SELECT max(notification_id) FROM carelog_relay_tracking "
                "WHERE application_name LIKE 'carelog>%'"
            ).fetchone()
            if published == head:
                break
            time.sleep(0.1)
        server.stop()
        procs = [WorkerProcess(dsn, kafka, env=env) for _ in range(workers)]
        started = time.perf_counter()
        launchers = [threading.Thread(target=w.start) for w in procs]
        for t in launchers:
            t.start()
        while _count(conn, "patients_v1") < count:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        for t in launchers:
            t.join()
    for w in procs:
        w.stop()
    return int(head), elapsed


def _count(conn: Any, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except Exception:  # the worker has not created its tables yet
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args()
    dsn = os.environ.get("CARELOG_TEST_POSTGRES_DSN", "")
    kafka = os.environ.get("CARELOG_TEST_KAFKA", "")
    if not dsn or not kafka:
        raise SystemExit("set CARELOG_TEST_POSTGRES_DSN and CARELOG_TEST_KAFKA (make bench-scale)")
    runs = [
        ("sqlite, 1 serve", "sqlite", 1, ""),
        ("postgres, 1 serve", dsn, 1, ""),
        ("postgres, 2 serve", dsn, 2, ""),
        ("postgres+kafka, 1 serve", dsn, 1, kafka),
        ("postgres+kafka, 2 serve", dsn, 2, kafka),
    ]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in runs}
    # Round-robin, so that a burst of load on a shared machine hits every setup alike.
    for _ in range(args.repeat):
        for name, store, processes, servers in runs:
            with tempfile.TemporaryDirectory() as tmp:
                if store == "sqlite":
                    store = f"sqlite:///{Path(tmp) / 'b.db'}"
                else:
                    _reset(dsn)
                results[name].append(run(store, processes, args.count, args.connections, servers))
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        for name, rs in results.items()
    }
    base = med["sqlite, 1 serve"]["msg_per_s"]
    print(f"{args.count} messages, {args.connections} connections, median of {args.repeat} rounds")
    header = ("run", "ok", "msg/s", "range", "vs sqlite", "p50 ms", "p99 ms", "relay p99 ms")
    print("{:<24} {:>5} {:>6} {:>11} {:>9} {:>7} {:>7} {:>12}".format(*header))
    for name, r in med.items():
        rates = sorted(x["msg_per_s"] for x in results[name])
        span = f"{rates[0]:.0f}-{rates[-1]:.0f}"
        print(
            f"{name:<24} {r['accepted']:>5.0f} {r['msg_per_s']:>6.0f} {span:>11} "
            f"{r['msg_per_s'] / base:>9.2f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
            f"{r['relay_lag_p99_ms']:>12.1f}"
        )
    for workers in (1, 2):
        events, seconds = worker_catch_up(dsn, kafka, args.count, workers)
        print(
            f"worker catch-up from cold, {workers} worker(s): {events} events in {seconds:.1f} s "
            f"({events / seconds:.0f} events/s, start-up included)"
        )


if __name__ == "__main__":
    main()
