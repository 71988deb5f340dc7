"""Replay rate: events/s from the event store into the SQLite read models.

The store is generated once in-process through ``Ingestion.ingest_many``
(group commit, as `carelog serve` writes) from the bench ADT corpus, and
cached under ``var/bench/`` so later runs only measure the replay. Each run
rebuilds into a fresh scratch file, exactly as ``carelog replay`` does before
its swap, and reports: reading and decoding alone (the ceiling; with the
library's mapper and with the runner's decoder, ``projections.decoding``),
each catalog projection alone, all of them together in one process, all of
them in worker processes (one per core, as ``carelog replay`` builds them),
and ``carelog replay`` itself: the parallel build plus the catch-up and the
one-transaction swap into the store (the cached store then holds read model
tables too; each run replaces them). CPU time counts the workers' (children's)
CPU beside this process's, so "per CPU s" compares the work done, and wall
time what a user waits.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.logging import configure_logging
from bench.corpus import adt_messages
from engine.application.ingestion import Ingestion
from engine.config import Settings
from projections.catalog import CATALOG
from projections.decoding import event_decoder
from projections.rebuild import build_sqlite, rebuild_sqlite
from projections.replay_workers import plan_groups

CACHE = Path("var/bench")
BATCH = 200  # messages per group commit while generating


class _NoFaults:
    """The generated corpus is valid; skipping the validator only makes generation faster."""

    def validate_many(self, messages: Sequence[bytes]) -> list[tuple[Any, ...]]:
        return [() for _ in messages]


class _Clock:
    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC)


def _ingestion(path: Path) -> Ingestion:
    # Plain stored state: the cached stores predate encryption; bench.at_rest compares both.
    env = Settings(store=f"sqlite:///{path}", encryption=False).eventsourcing_env()
    return Ingestion(env, validator=_NoFaults(), clock=_Clock())


def store_with(events: int) -> Path:
    """A cached store holding at least ``events`` events (about 3 per ADT message)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"replay-{events}.db"
    if path.exists():
        return path
    partial = path.with_suffix(".partial.db")
    for leftover in CACHE.glob(partial.name + "*"):
        leftover.unlink()
    app = _ingestion(partial)
    started = time.perf_counter()
    written, n = 0, 0
    chunk = 20_000
    while written < events:
        messages = adt_messages(chunk, seed=n, start=n * chunk)
        for i in range(0, len(messages), BATCH):
            outcomes = app.ingest_many([(m, "bench") for m in messages[i : i + BATCH]])
            written += sum(o.events_written for o in outcomes)
            if written >= events:
                break
        n += 1
        print(f"  generated {written} events ({time.perf_counter() - started:.0f} s)", flush=True)
    app.close()
    partial.rename(path)
    for suffix in ("-wal", "-shm"):
        side = partial.with_name(partial.name + suffix)
        if side.exists():
            side.rename(path.with_name(path.name + suffix))
    return path


def _decode_only(app: Ingestion, head: int, decode: Callable[[Any], Any]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    position = 0
    while position < head:
        batch = app.recorder.select_notifications(position + 1, 2000, stop=head)
        for n in batch:
            decode(n)
        position = batch[-1].id
    return time.perf_counter() - started, time.process_time() - cpu


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _timed(work: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, float]:
    started, cpu = time.perf_counter(), _cpu()
    work(*args, **kwargs)
    return time.perf_counter() - started, _cpu() - cpu


def run(events: int, *, alone: bool = True) -> list[tuple[str, int, float, float]]:
    store = store_with(events)
    app = _ingestion(store)
    head = app.recorder.max_notification_id() or 0
    rows = [
        ("decode: mapper", head, *_decode_only(app, head, app.mapper.to_domain_event)),
        ("decode: runner's", head, *_decode_only(app, head, event_decoder(app.mapper))),
    ]
    specs = list(CATALOG)
    workers = len(plan_groups(specs, len(os.sched_getaffinity(0))))
    cases: list[tuple[str, list[Any], int | None]] = []
    if alone:
        cases = [(spec.name, [spec], 1) for spec in CATALOG]
    cases.append(("all, one process", specs, 1))
    cases.append((f"all, {workers} workers", specs, None))
    for label, chosen, count in cases:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            scratch = Path(tmp) / "scratch.db"
            rows.append((label, head, *_timed(build_sqlite, app, chosen, scratch, workers=count)))
    label = f"carelog replay ({workers} w)"
    rows.append((label, head, *_timed(rebuild_sqlite, app, specs, store)))
    app.close()
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--no-alone", action="store_true", help="skip each read model alone (faster)"
    )
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    print(f"replay into SQLite read models, {args.events} events (store cached in {CACHE})")
    cores = len(os.sched_getaffinity(0))
    print(f"cores: {cores}, load average before: {os.getloadavg()[0]:.2f}")
    # Wall time is what a user waits; CPU time is steadier on a shared machine.
    print(f"{'read model':<24} {'events':>9} {'wall s':>8} {'events/s':>10} {'per CPU s':>10}")
    for label, count, wall, cpu in run(args.events, alone=not args.no_alone):
        print(f"{label:<24} {count:>9} {wall:>8.2f} {count / wall:>10.0f} {count / cpu:>10.0f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
