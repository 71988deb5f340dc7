"""Rebuilding groups of read models in worker processes, one per core.

One process applies events on one core at a time, so the projections are
split into groups of about equal measured cost (``REPLAY_COST``), one spawned
worker process per group. Each worker opens the store for reading itself
(SQLite in WAL mode lets readers run side by side) and builds its group into
a target of its own (a scratch file, or views made in place); the parent
shows their common progress. A worker that fails fails the rebuild
(``RebuildError``, naming its projections).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import time as clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import TrackingRecorder

from projections.catalog import ProjectionSpec
from projections.queue.rules import QueueRules, configure_queues, queue_rules
from projections.replay_feed import AsOf, Progress, build_here, close_views, feed

__all__ = [
    "PARALLEL_MIN_EVENTS",
    "REPLAY_COST",
    "RebuildError",
    "ViewMaker",
    "build_parts",
    "groups_for",
    "plan_groups",
    "sendable",
]

log = structlog.get_logger(__name__)

PARALLEL_MIN_EVENTS = 20_000
"""Below this many events one process rebuilds: starting workers (about a second
each, importing carelog) would cost more than they save."""

REPLAY_COST: Mapping[str, float] = {
    "history": 55.0,
    "queue": 31.0,
    "encounters": 26.0,
    "patients": 22.0,
    "billing": 0.5,
    "observations": 0.5,
    "messages": 4.0,  # estimated (one row per message, keys from InboundMessage only)
    "appointments": 2.0,  # estimated (SIU events, and one indexed read per visit start)
}
"""CPU seconds each read model adds to a worker per million events of the bench
corpus (``python -m bench.replay``; history and queue alone, the others from
the difference between groups: reading and decoding are shared within a
group); what the workers are balanced by. A read model not listed counts as
the average of those listed."""


class RebuildError(RuntimeError):
    """A rebuild worker failed; the read models were left as they were."""


def _cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_groups(specs: Sequence[ProjectionSpec], workers: int) -> list[list[ProjectionSpec]]:
    """``specs`` split into at most ``workers`` groups of about equal cost (``REPLAY_COST``).

    The costliest first, each into the group with the least cost so far
    (longest processing time first); each group keeps the catalog's order.
    """
    known = [REPLAY_COST[s.key] for s in specs if s.key in REPLAY_COST]
    default = sum(known) / len(known) if known else 1.0
    count = max(1, min(workers, len(specs)))
    groups: list[list[ProjectionSpec]] = [[] for _ in range(count)]
    loads = [0.0] * count
    order = {spec.key: i for i, spec in enumerate(specs)}
    for spec in sorted(specs, key=lambda s: -REPLAY_COST.get(s.key, default)):
        least = loads.index(min(loads))
        groups[least].append(spec)
        loads[least] += REPLAY_COST.get(spec.key, default)
    return [sorted(g, key=lambda s: order[s.key]) for g in groups if g]


def groups_for(
    app: Any, specs: Sequence[ProjectionSpec], workers: int | None
) -> list[list[ProjectionSpec]]:
    """How ``specs`` are built: one group per worker process (one group: in this process).

    ``workers=None`` is one worker per core, but one process for a small
    history (``PARALLEL_MIN_EVENTS``) or a backend other readers cannot share.
    """
    if workers is None:
        head = app.recorder.max_notification_id() or 0
        shareable = str(app.env.get("PERSISTENCE_MODULE", "")) != "eventsourcing.popo"
        workers = _cpus() if head >= PARALLEL_MIN_EVENTS and shareable else 1
    return plan_groups(specs, workers)


@dataclass(frozen=True)
class _Reader:
    """How a worker process opens the store for reading: the application's class and settings.

    Only what the parent was given beyond the (inherited) process environment
    is passed, so no setting from the environment travels through the pipe.
    """

    cls: type[Application[Any]]
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, app: Any) -> _Reader:
        env = {k: str(v) for k, v in app.env.items() if os.environ.get(k) != v}
        return cls(type(app), env)

    def open(self) -> Any:
        """The application's reading half: its recorder and mapper, no command-side collaborators.

        Only the library's initialiser runs (a subclass's may want a validator
        or a clock, which reading does not need); the recorder, mapper and
        transcodings are built exactly as the application builds them.
        """
        app = self.cls.__new__(self.cls)
        Application.__init__(app, self.env)
        return app


def _quiet_logs() -> None:
    """A worker's default log set-up: warnings and errors only (the parent reports progress)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


ViewMaker = Callable[[ProjectionSpec], TrackingRecorder]
"""Builds a projection's view on the store's own backend (rebuilding in place)."""


def _work(
    index: int,
    reader: _Reader,
    specs: Sequence[ProjectionSpec],
    target: Path | ViewMaker,
    as_of: AsOf | None,
    positions: Any,
    results: Any,
    log_setup: Callable[[], None] | None,
    rules: QueueRules | None = None,
) -> None:
    """A worker process: builds ``specs`` into ``target``, reporting its position as it goes.

    ``target`` is a scratch file, or (in place) what makes each view. ``rules``
    are the parent's queue rules (a spawned process starts with the defaults).
    """
    started, cpu = clock.perf_counter(), clock.process_time()
    try:
        (log_setup or _quiet_logs)()
        if rules is not None:
            configure_queues(rules)

        def progress(done: int, head: int) -> None:
            positions[index] = done

        app = reader.open()
        try:
            if isinstance(target, Path):
                head = build_here(app, specs, target, as_of=as_of, progress=progress)
            else:
                views = {spec.key: target(spec) for spec in specs}
                try:
                    head = feed(app, specs, views, as_of=as_of, progress=progress)
                finally:
                    close_views(views)
        finally:
            app.close()
    except BaseException as e:  # reported to the parent, which fails the rebuild
        results.put((index, f"{type(e).__name__}: {e}", 0, 0.0, 0.0))
        raise SystemExit(1) from None
    results.put((index, None, head, clock.perf_counter() - started, clock.process_time() - cpu))


def build_parts(
    app: Any,
    groups: Sequence[Sequence[ProjectionSpec]],
    targets: Sequence[Path | ViewMaker],
    *,
    as_of: AsOf | None,
    progress: Progress | None,
    log_setup: Callable[[], None] | None,
    poll_s: float = 0.2,
) -> int:
    """Builds each group into its target in a worker process of its own; returns the lowest head.

    Progress is the position every worker has reached. The first failure
    stops the other workers and raises.

    Raises:
        RebuildError: a worker failed or died; the message names its read models.
    """
    head = app.recorder.max_notification_id() or 0
    context = multiprocessing.get_context("spawn")  # no forked copies of pools or threads
    positions = context.Array("q", len(groups), lock=False)
    results = context.Queue()
    reader = _Reader.of(app)
    workers = [
        context.Process(
            target=_work,
            args=(
                i,
                reader,
                list(group),
                target,
                as_of,
                positions,
                results,
                log_setup,
                queue_rules(),
            ),
            name=f"carelog-rebuild-{i}",
            daemon=True,
        )
        for i, (group, target) in enumerate(zip(groups, targets, strict=True))
    ]

    def failure(index: int, reason: str) -> RebuildError:
        names = ", ".join(s.name for s in groups[index])
        return RebuildError(f"rebuilding {names} failed: {reason}; the read models are unchanged")

    heads: dict[int, int] = {}
    shown = -1
    try:
        for worker in workers:
            worker.start()
        while len(heads) < len(workers):
            try:
                index, error, reached, wall_s, cpu_s = results.get(timeout=poll_s)
            except queue.Empty:
                for i, worker in enumerate(workers):
                    if i not in heads and not worker.is_alive() and results.empty():
                        raise failure(i, f"worker exited with code {worker.exitcode}") from None
            else:
                if error is not None:
                    raise failure(index, error)
                heads[index] = reached
                log.debug(
                    "replay.worker_done",
                    projection=",".join(s.name for s in groups[index]),
                    wall_s=round(wall_s, 2),
                    cpu_s=round(cpu_s, 2),
                )
                positions[index] = max(positions[index], reached)
            done = min(positions[:])
            if progress is not None and done != shown:
                shown = done
                progress(min(done, head), head)
    finally:
        for worker in workers:
            if worker.pid is None:
                continue  # never started
            if worker.is_alive():
                worker.terminate()
            worker.join()
        results.close()
        results.join_thread()
    if progress is not None:
        progress(head, head)
    return min(heads.values())


def sendable(value: Any) -> bool:
    """Whether ``value`` can be sent to a worker process."""
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True
