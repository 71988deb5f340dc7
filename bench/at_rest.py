"""Encryption at rest: ingest messages/s and replay events/s, encrypted against plain, one run.

Both sides start from an empty SQLite store in a temporary directory and do
the same work in-process: the bench ADT corpus through ``Ingestion.ingest_many``
in group commits of 200 (as `carelog serve` writes; a new patient per
message, so every message also creates a data key), then every catalog read
model rebuilt into a scratch file in one process (as `carelog replay` does,
``workers=1`` so the comparison is not blurred by process start-up). Rates
are per CPU second of this process (the machine is shared: wall time would
measure the neighbours), so waiting on fsync is not counted. The two
sides alternate (plain, encrypted, plain, encrypted...) and the best round of
each is kept. Target (issue 18): encrypted within 15% of plain.

    python -m bench.at_rest [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.crypto.setup import prepare_keys
from adapters.logging import configure_logging
from bench.corpus import adt_messages
from bench.replay import BATCH, _Clock, _NoFaults
from engine.application.ingestion import Ingestion
from engine.config import Settings
from projections.catalog import CATALOG
from projections.rebuild import build_sqlite


def _round(messages: list[bytes], encryption: bool, tmp: Path) -> tuple[float, float, int]:
    """(messages/s ingested, events/s replayed, events) for one fresh store."""
    settings = Settings(store=f"sqlite:///{tmp / 'carelog.db'}", encryption=encryption)
    settings = prepare_keys(replace(settings))
    app = Ingestion(settings.eventsourcing_env(), validator=_NoFaults(), clock=_Clock())
    started = time.process_time()
    events = 0
    for i in range(0, len(messages), BATCH):
        outcomes = app.ingest_many([(m, "bench") for m in messages[i : i + BATCH]])
        events += sum(o.events_written for o in outcomes)
    ingest = len(messages) / (time.process_time() - started)
    started = time.process_time()
    build_sqlite(app, list(CATALOG), tmp / "scratch.db", workers=1)
    replay = events / (time.process_time() - started)
    app.close()
    return ingest, replay, events


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    messages = adt_messages(args.messages, seed=11)
    best: dict[bool, list[Any]] = {False: [0.0, 0.0, 0], True: [0.0, 0.0, 0]}
    for _ in range(args.rounds):
        for encryption in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                ingest, replay, events = _round(messages, encryption, Path(tmp))
            side = best[encryption]
            side[0], side[1], side[2] = max(side[0], ingest), max(side[1], replay), events
    print(f"{args.messages} ADT messages, best of {args.rounds} round(s) per side")
    print(f"{'per CPU s':12} {'ingest msg/s':>14} {'replay events/s':>16}")
    for encryption, label in ((False, "plain"), (True, "encrypted")):
        ingest, replay, _ = best[encryption]
        print(f"{label:12} {ingest:14.0f} {replay:16.0f}")
    plain, sealed = best[False], best[True]
    print(
        f"{'encrypted/plain':12} {sealed[0] / plain[0]:14.2f} {sealed[1] / plain[1]:16.2f}"
        "   (target >= 0.85)"
    )


if __name__ == "__main__":
    main()
