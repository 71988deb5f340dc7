"""Writing events: carelog's ingestion against eventsourcing's plain application.

``python -m bench.es_peer``: the same number of ADT messages, in commits of the
same size, on a fresh SQLite file each:

- ``carelog ingest_many``: what `carelog serve`'s writer does per commit, in
  process: validate (C), parse, decide on the aggregates, and commit the events
  (carelog's fast paths: ``engine/domain/lean.py``, ``FastJSONTranscoder``,
  one ``executemany``);
- ``eventsourcing Application.save``: the library's public path with a plain
  ``Aggregate`` per message, patient and visit (three events a message, as
  carelog's ADT messages make), saved in one ``save`` call per commit. It parses
  and decides nothing: what storing alone costs through the public API.

Both pay SQLite's fsync per commit. Reports events/s and CPU microseconds per
event; read the ratio, on a shared machine the absolutes swing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from adapters.bootstrap import build
from adapters.logging import configure_logging
from bench.corpus import adt_messages
from engine.config import Settings

__all__ = ["main", "run_carelog", "run_eventsourcing"]


class _Message(Aggregate):
    @event("Received")
    def __init__(self, control_id: str, raw: str) -> None:
        self.control_id = control_id
        self.raw = raw


class _Patient(Aggregate):
    @event("Registered")
    def __init__(self, mrn: str, family: str, given: str, birth_date: str, sex: str) -> None:
        self.mrn, self.family, self.given = mrn, family, given
        self.birth_date, self.sex = birth_date, sex


class _Visit(Aggregate):
    @event("Admitted")
    def __init__(self, visit_number: str, patient_mrn: str, location: str) -> None:
        self.visit_number = visit_number
        self.patient_mrn = patient_mrn
        self.location = location


def _aggregates(raw: bytes) -> list[Aggregate]:
    """The three aggregates a plain application would record for one ADT message."""
    segments = {s[:3]: s.split("|") for s in raw.decode().split("\r") if s}
    msh, pid, pv1 = segments["MSH"], segments["PID"], segments["PV1"]
    family, given = [*pid[5].split("^"), ""][:2]
    mrn = pid[3].split("^")[0]
    return [
        _Message(msh[9], raw.decode()),
        _Patient(mrn, family, given, pid[7], pid[8]),
        _Visit(pv1[19].split("^")[0], mrn, pv1[3]),
    ]


def _timed(work: Any) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    events = work()
    return events, time.perf_counter() - wall, time.process_time() - cpu


def run_carelog(messages: Sequence[bytes], batch: int) -> tuple[int, float, float]:
    """(events, wall s, CPU s) of carelog's ingestion of ``messages`` in commits of ``batch``."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = build(Settings(store=f"sqlite:///{Path(tmp) / 'bench.db'}"))

        def work() -> int:
            written = 0
            for i in range(0, len(messages), batch):
                chunk = [(m, "bench") for m in messages[i : i + batch]]
                written += sum(o.events_written for o in engine.ingestion.ingest_many(chunk))
            return written

        try:
            return _timed(work)
        finally:
            engine.close()


def run_eventsourcing(messages: Sequence[bytes], batch: int) -> tuple[int, float, float]:
    """(events, wall s, CPU s) of eventsourcing's Application.save, same commits."""
    with tempfile.TemporaryDirectory() as tmp:
        app = Application(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(Path(tmp) / "bench.db"),
            }
        )

        def work() -> int:
            written = 0
            for i in range(0, len(messages), batch):
                aggregates = [a for m in messages[i : i + batch] for a in _aggregates(m)]
                app.save(*aggregates)
                written += len(aggregates)
            return written

        try:
            return _timed(work)
        finally:
            app.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="ADT messages")
    parser.add_argument("--batch", type=int, default=16, help="messages per commit")
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    messages = adt_messages(args.count)
    print(f"{'writer':<32} {'events':>7} {'events/s':>9} {'cpu us/event':>13}")
    for name, runner in (
        ("carelog ingest_many", run_carelog),
        ("eventsourcing Application.save", run_eventsourcing),
    ):
        events, wall, cpu = runner(messages, args.batch)
        print(f"{name:<32} {events:>7} {events / wall:>9.0f} {cpu / events * 1e6:>13.1f}")


if __name__ == "__main__":
    main()
