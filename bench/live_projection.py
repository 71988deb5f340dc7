"""Live projection cost: CPU per ingested ADT message spent keeping every read model current.

What `carelog serve` does in-process, minus the sockets: ADT messages (~3
events each) are ingested in group commits of ``--batch`` messages, then one
``engine.runner.catch_up()`` brings the six catalog read models up to date,
in batches as the live runner reads them. Projections share the GIL with
ingestion, so their CPU per message bounds serve's throughput as much as
ingestion's own. Reports wall and CPU microseconds per message for both;
``--each-commit`` catches up after every commit instead (serve's small batches).
As in serve, the runner takes each commit's events from the writer's hand-over
(``Ingestion.on_recorded``); ``--from-store`` reads and decodes them from the
store instead (the path before the hand-over, and the fallback).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence

from adapters.bootstrap import build
from adapters.logging import configure_logging
from bench.corpus import adt_messages
from engine.config import Settings


def run(
    messages: int, batch: int, *, each_commit: bool, from_store: bool = False
) -> dict[str, tuple[float, float]]:
    """{"ingest": (wall us/msg, cpu us/msg), "project": (...)} for one fresh store.

    ``each_commit``: catch up after every group commit (as serve's nudged
    runner does, small batches) instead of once at the end (large batches).
    """
    with tempfile.TemporaryDirectory() as tmp:
        engine = build(Settings(store=f"sqlite:///{tmp}/carelog.db"))
        if not from_store:
            engine.ingestion.on_recorded = engine.runner.offer
        corpus = adt_messages(messages)
        ingest = [0.0, 0.0]
        project = [0.0, 0.0]

        def timed(total: list[float], step: Callable[[], object]) -> None:
            started, cpu = time.perf_counter(), time.process_time()
            step()
            total[0] += time.perf_counter() - started
            total[1] += time.process_time() - cpu

        for i in range(0, len(corpus), batch):
            chunk = [(m, "bench") for m in corpus[i : i + batch]]
            timed(ingest, lambda chunk=chunk: engine.ingestion.ingest_many(chunk))  # type: ignore[misc]
            if each_commit:
                timed(project, engine.runner.catch_up)
        timed(project, engine.runner.catch_up)
        engine.close()
    per = 1e6 / messages
    return {
        "ingest": (ingest[0] * per, ingest[1] * per),
        "project": (project[0] * per, project[1] * per),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=16, help="messages per group commit")
    parser.add_argument(
        "--each-commit", action="store_true", help="catch up after every commit, as serve does"
    )
    parser.add_argument(
        "--from-store", action="store_true", help="no hand-over: read every event from the store"
    )
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    when = "after every commit" if args.each_commit else "once at the end"
    source = "from the store" if args.from_store else "handed over by the writer"
    print(f"{args.messages} ADT messages, commits of {args.batch}, caught up {when}, {source}")
    result = run(
        args.messages, args.batch, each_commit=args.each_commit, from_store=args.from_store
    )
    for step, (wall, cpu) in result.items():
        print(f"{step:<8} {wall:>8.0f} us/msg wall {cpu:>8.0f} us/msg CPU")


if __name__ == "__main__":
    main()
