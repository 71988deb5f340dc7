"""End-to-end MLLP ingest: `carelog serve` on SQLite, N messages over C connections.

Each connection sends its next message only after the ACK of the previous one
(stop-and-wait, as real senders do). Reports messages/s and p50/p99 latency.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from adapters.mllp.client import MLLPClient, ack_code_of
from bench.corpus import adt_messages
from tests.e2e.server import ServeProcess


def run(count: int, connections: int) -> dict[str, float]:
    messages = adt_messages(count)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServeProcess(f"sqlite:///{Path(tmp) / 'bench.db'}")
        server.start()
        latencies: list[float] = []
        codes: list[str] = []
        lock = threading.Lock()

        def worker(chunk: list[bytes]) -> None:
            with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=30) as client:
                for m in chunk:
                    t0 = time.perf_counter()
                    code = ack_code_of(client.send(m))
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        codes.append(code)

        chunks = [messages[i::connections] for i in range(connections)]
        threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        server.stop()
    latencies.sort()
    return {
        "messages": count,
        "connections": connections,
        "aa": codes.count("AA") + codes.count("CA"),  # the corpus asks for accept ACKs
        "msg_per_s": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    print(f"{'conns':>5} {'msgs':>6} {'AA/CA':>6} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for c in args.connections:
        r = run(args.count, c)
        print(
            f"{c:>5} {r['messages']:>6} {r['aa']:>6} {r['msg_per_s']:>9.0f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
        )


if __name__ == "__main__":
    main()
