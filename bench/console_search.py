"""Message log search by business key: p95 over many stored messages (issue 17).

Fills ``messages_v1`` (SQLite, the default store) with N log entries straight
through the view (as the projection writes them: each with an MRN, a visit
number and, one in four, an order number), then times searches by visit number,
MRN and order number, each a lookup that finds one or a few entries.

    python -m bench.console_search --messages 1000000 --queries 500

Writes nothing outside a temporary directory; prints one line per key kind.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking

from adapters.bootstrap import build
from engine.config import Settings
from projections.messages import LogEntry, LogFilter


def fill(view: Any, count: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = 5000
    for first in range(0, count, batch):
        with view.batch():
            for n in range(first, min(first + batch, count)):
                entry = LogEntry(
                    entry_id=f"00000000-0000-4000-8000-{n:012d}",
                    position=n + 1,
                    received_at=start + timedelta(seconds=n),
                    accepted=n % 20 != 0,
                    ack_code="AA" if n % 20 else "AE",
                    message_type="ORU^R01" if n % 4 == 0 else "ADT^A08",
                    sender="LAB" if n % 4 == 0 else "HIS",
                    facility="HOSP",
                    control_id=f"C{n}",
                    channel="bench",
                )
                keys = [("mrn", f"M{n // 10}"), ("visit", f"V{n // 5}")]
                if n % 4 == 0:
                    keys.append(("order", f"O{n}"))
                view.add_entry(entry, keys, Tracking("bench", n + 1))


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = build(Settings(store=f"sqlite:///{Path(tmp) / 'bench.db'}", message_log=True))
        view = engine.views["messages"]
        began = time.perf_counter()
        fill(view, args.messages)
        print(f"filled {args.messages} entries in {time.perf_counter() - began:.1f} s")
        rng = random.Random(17)
        for kind, value in (
            ("visit", lambda: f"V{rng.randrange(args.messages // 5)}"),
            ("mrn", lambda: f"M{rng.randrange(args.messages // 10)}"),
            ("order", lambda: f"O{rng.randrange(args.messages // 4) * 4}"),
        ):
            times = []
            for _ in range(args.queries):
                query = LogFilter(key_kind=kind, key_value=value())
                t = time.perf_counter()
                found = view.search(query)
                times.append((time.perf_counter() - t) * 1000)
                assert found, query
            print(
                f"{kind}: p50 {statistics.median(times):.2f} ms, p95 {p95(times):.2f} ms "
                f"over {args.queries} searches of {args.messages} messages"
            )
        engine.close()


if __name__ == "__main__":
    main()
