"""Rebuilding read models from the event history, now or as they were at a past time.

Every function here works on any catalog entry (``projections.catalog``): it
knows a projection only by its spec (view classes, tables, versioned name),
so a new read model is replayable without changes here.

- ``build_sqlite`` feeds the history, from position 0, into fresh SQLite views
  in a file of their own, through the ``PollingProjectionRunner`` (which
  applies each run of events in one transaction). With ``as_of`` only events
  recorded (or occurred) at or before that time change rows; later ones only
  move the position. That file is the ``--as-of`` answer, and the scratch copy
  of a SQLite rebuild.
- ``rebuild_sqlite`` (``carelog replay`` on SQLite) builds such a scratch
  copy beside the store, then ``swap_into_sqlite`` replaces the projections'
  tables and tracking tables with it in one transaction, after catching the
  copy up under the store's write lock: readers (and a running ``carelog
  serve``) see the old state until the new one is complete, then the live
  runner goes on from the copied position. Views must keep all their state
  in their tables for this.
- ``rebuild_in_place`` (PostgreSQL) drops a projection's tables and tracking
  table, recreates them through ``make_view`` and replays into them.

Several read models are built in parallel (``build_sqlite`` and
``rebuild_sqlite``): one process applies events on one core at a time, so
the projections are split into groups of about equal measured cost
(``REPLAY_COST``), one spawned worker process per group and core. Each worker
opens the store for reading itself (SQLite in WAL mode lets readers run side
by side), reads only its projections' topics and writes a scratch file of its
own; the parent shows their common progress, catches every scratch file up
under the store's write lock and swaps them all in with ONE transaction, so
readers see the old read models or all the new ones. A worker that fails
fails the rebuild (``RebuildError``, naming its projections) before the swap:
the old tables stay as they were.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import queue
import sqlite3
import time as clock
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import TrackingRecorder
from eventsourcing.sqlite import SQLiteFactory

from projections.catalog import ProjectionSpec
from projections.decoding import event_decoder
from projections.runner import PollingProjectionRunner

__all__ = [
    "AS_OF_TABLE",
    "REPLAY_COST",
    "AsOf",
    "Progress",
    "RebuildError",
    "build_sqlite",
    "parse_time",
    "plan_groups",
    "rebuild_in_place",
    "rebuild_sqlite",
    "scratch_path",
    "swap_into_sqlite",
]

Progress = Callable[[int, int], None]
"""Called with (position reached, head) as a rebuild goes."""

AS_OF_TABLE = "carelog_as_of"
"""One row in an as-of file: which time it shows and up to which position it read."""

log = structlog.get_logger(__name__)

REBUILD_BATCH = 10_000  # events per view transaction while rebuilding
BULK_CACHE_KIB = 256 * 1024  # SQLite page cache of a scratch or as-of file while it is built

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
}
"""CPU seconds each read model adds to a worker per million events of the bench
corpus (``python -m bench.replay``; history and queue alone, the others from
the difference between groups: reading and decoding are shared within a
group); what the workers are balanced by. A read model not listed counts as
the average of those listed."""


class RebuildError(RuntimeError):
    """A rebuild worker failed; the read models were left as they were."""


def parse_time(text: str, site_timezone: tzinfo = UTC) -> datetime:
    """An ISO 8601 time, as an aware datetime.

    A time without an offset is in the site's zone; a date alone means the
    end of that day there (every event of that day is included).

    Raises:
        ValueError: ``text`` is not an ISO 8601 date or time.
    """
    text = text.strip()
    if len(text) == 10:  # YYYY-MM-DD
        day = date.fromisoformat(text)
        start = datetime.combine(day + timedelta(days=1), time(), site_timezone)
        return start - timedelta(microseconds=1)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=site_timezone)


@dataclass(frozen=True)
class AsOf:
    """A point in time and which clock it reads.

    ``by="recorded"`` (the default) keeps events carelog had recorded at or
    before ``time`` (eventsourcing's ``timestamp``): what carelog knew then,
    which is what an auditor asks. ``by="occurred"`` keeps events whose HL7
    time (``occurred_at``: EVN-2, else MSH-7) is at or before ``time``; events
    without one (InboundMessage.Received) are judged by their recorded time.
    Either way the kept events are applied in the order they were recorded.
    """

    time: datetime
    by: str = "recorded"

    def __post_init__(self) -> None:
        if self.by not in ("recorded", "occurred"):
            raise ValueError(f"as-of by must be recorded or occurred, not {self.by!r}")
        if self.time.tzinfo is None:
            raise ValueError("as-of time must carry an offset")

    def accepts(self, event: Any) -> bool:
        """Whether ``event`` belongs to the state as of this time."""
        when = getattr(event, "occurred_at", None) if self.by == "occurred" else None
        if when is None:
            when = event.timestamp
        return bool(when <= self.time)


class _Excluded:
    """Stands in for an event after the as-of time: projections only record the position."""

    __slots__ = ()


_EXCLUDED = _Excluded()


class _Mapper:
    """The application's mapper, reporting progress and hiding events ``as_of`` rejects."""

    def __init__(self, mapper: Any, as_of: AsOf | None, on_event: Callable[[int], None]) -> None:
        self._decode = event_decoder(mapper)
        self._as_of = as_of
        self._on_event = on_event

    def to_domain_event(self, notification: Any) -> Any:
        event = self._decode(notification)
        self._on_event(notification.id)
        if self._as_of is not None and not self._as_of.accepts(event):
            return _EXCLUDED
        return event


class _Source:
    """What the runner reads from: the application's name, recorder and (wrapped) mapper."""

    def __init__(self, app: Any, as_of: AsOf | None, on_event: Callable[[int], None]) -> None:
        self.name = app.name
        self.recorder = app.recorder
        self.mapper = _Mapper(app.mapper, as_of, on_event)


def _reporter(head: int, progress: Progress | None) -> Callable[[int], None]:
    step = max(1, head // 200)
    last = [0]

    def on_event(notification_id: int) -> None:
        if progress is not None and notification_id - last[0] >= step:
            last[0] = notification_id
            progress(notification_id, head)

    return on_event


def _feed(
    app: Any,
    specs: Sequence[ProjectionSpec],
    views: Mapping[str, TrackingRecorder],
    *,
    as_of: AsOf | None,
    progress: Progress | None,
) -> int:
    """Catches ``views`` up from their position (0 when fresh); returns the head read."""
    head = app.recorder.max_notification_id() or 0
    source = _Source(app, as_of, _reporter(head, progress))
    projections = [spec.project(views[spec.key]) for spec in specs]
    runner = PollingProjectionRunner(source, *projections, batch_size=REBUILD_BATCH)  # type: ignore[arg-type]
    runner.catch_up()
    if progress is not None:
        progress(head, head)
    return head


def _sqlite_views(specs: Sequence[ProjectionSpec], path: Path) -> dict[str, TrackingRecorder]:
    """Views on a new file of their own: one datastore, tuned for a bulk load.

    The file is a scratch copy or an as-of answer, rebuilt if anything goes
    wrong, so it trades durability for speed: no fsync per commit, and a page
    cache large enough that random-key indexes (patient ids) stay in memory.
    """
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    factory = SQLiteFactory(env)
    views = {spec.key: factory.tracking_recorder(spec.sqlite) for spec in specs}  # type: ignore[arg-type]
    with factory.datastore.get_connection(commit=True) as conn:  # reused by this thread
        cursor = conn.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    return views


def _close(views: Mapping[str, Any]) -> None:
    for view in views.values():
        datastore = getattr(view, "datastore", None)
        if datastore is not None:
            datastore.close()


def _build_here(
    app: Any,
    specs: Sequence[ProjectionSpec],
    path: Path,
    *,
    as_of: AsOf | None,
    progress: Progress | None,
) -> int:
    """Catches the views of ``specs`` in ``path`` up here (from 0 when new); returns the head."""
    views = _sqlite_views(specs, path)
    try:
        return _feed(app, specs, views, as_of=as_of, progress=progress)
    finally:
        _close(views)


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


def _groups(
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
) -> None:
    """A worker process: builds ``specs`` into ``target``, reporting its position as it goes.

    ``target`` is a scratch file, or (in place) what makes each view.
    """
    started, cpu = clock.perf_counter(), clock.process_time()
    try:
        (log_setup or _quiet_logs)()

        def progress(done: int, head: int) -> None:
            positions[index] = done

        app = reader.open()
        try:
            if isinstance(target, Path):
                head = _build_here(app, specs, target, as_of=as_of, progress=progress)
            else:
                views = {spec.key: target(spec) for spec in specs}
                try:
                    head = _feed(app, specs, views, as_of=as_of, progress=progress)
                finally:
                    _close(views)
        finally:
            app.close()
    except BaseException as e:  # reported to the parent, which fails the rebuild
        results.put((index, f"{type(e).__name__}: {e}", 0, 0.0, 0.0))
        raise SystemExit(1) from None
    results.put((index, None, head, clock.perf_counter() - started, clock.process_time() - cpu))


def _build_parts(
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
            args=(i, reader, list(group), target, as_of, positions, results, log_setup),
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


def build_sqlite(
    app: Any,
    specs: Sequence[ProjectionSpec],
    path: Path,
    *,
    as_of: AsOf | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    log_setup: Callable[[], None] | None = None,
) -> int:
    """Builds ``specs``' read models from position 0 into a new SQLite file; returns the head.

    The file holds each projection's tables and ``<name>_tracking`` exactly as
    in a SQLite store, plus (with ``as_of``) a ``carelog_as_of`` row saying
    which time it shows, so two files can be compared with ATTACH. With more
    than one group of read models (``workers``: None is one per core, see
    ``_groups``), the first group is built in ``path`` and the others in part
    files beside it that are then copied in. ``log_setup`` configures a
    worker's logging (it must be picklable: a module-level function or a
    ``functools.partial`` of one).

    Raises:
        FileExistsError: ``path`` exists (an earlier build is never overwritten).
        RebuildError: a worker failed (``path`` is then removed).
    """
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = _groups(app, specs, workers)
    if len(groups) == 1:
        head = _build_here(app, specs, path, as_of=as_of, progress=progress)
    else:
        parts = [path] + [path.with_name(f"{path.name}.part{i}") for i in range(1, len(groups))]
        try:
            for part in parts[1:]:
                _remove(part)
            head = _build_parts(
                app, groups, parts, as_of=as_of, progress=progress, log_setup=log_setup
            )
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
                for part, group in zip(parts[1:], groups[1:], strict=True):
                    _copy_in(db, [(part, group)], lambda: None)
        except BaseException:
            _remove(path)
            raise
        finally:
            for part in parts[1:]:
                _remove(part)
    if as_of is not None:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute(
                f"CREATE TABLE {AS_OF_TABLE} (as_of TEXT NOT NULL, by TEXT NOT NULL, "
                "head INTEGER NOT NULL, projections TEXT NOT NULL, built_at TEXT NOT NULL)"
            )
            db.execute(
                f"INSERT INTO {AS_OF_TABLE} VALUES (?,?,?,?,?)",
                (
                    as_of.time.isoformat(),
                    as_of.by,
                    head,
                    ",".join(s.name for s in specs),
                    datetime.now(UTC).isoformat(),
                ),
            )
    return head


def _owned_tables(spec: ProjectionSpec) -> list[str]:
    return [*spec.tables, f"{spec.name}_tracking"]


def rebuild_sqlite(
    app: Any,
    specs: Sequence[ProjectionSpec],
    store: Path,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    log_setup: Callable[[], None] | None = None,
) -> int:
    """Rebuilds ``specs`` in scratch files beside ``store``, then swaps them in; returns the head.

    One scratch file per group of read models (``workers``, ``log_setup``:
    as for ``build_sqlite``). Every scratch copy is caught up once more while
    the swap holds the store's write lock, so it holds every event committed
    before the swap: a runner that goes on from the swapped-in position
    (``carelog serve``'s) misses nothing and doubles nothing, whatever it had
    seen before.

    Raises:
        RebuildError: a worker failed; the store's read models are unchanged.
    """
    groups = _groups(app, specs, workers)
    with contextlib.ExitStack() as stack:
        parts = [
            (stack.enter_context(scratch_path(store, f"replay{i or ''}")), group)
            for i, group in enumerate(groups)
        ]
        if len(parts) == 1:
            _build_here(app, specs, parts[0][0], as_of=None, progress=progress)
        else:
            scratches = [scratch for scratch, _ in parts]
            _build_parts(app, groups, scratches, as_of=None, progress=progress, log_setup=log_setup)
        heads: list[int] = []

        def catch_up() -> None:
            for scratch, group in parts:
                heads.append(_build_here(app, group, scratch, as_of=None, progress=None))

        _swap(store, parts, before_copy=catch_up)
    return min(heads)


def swap_into_sqlite(
    store: Path,
    scratch: Path,
    specs: Sequence[ProjectionSpec],
    *,
    before_copy: Callable[[], None] = lambda: None,
) -> None:
    """Replaces ``specs``' tables in ``store`` with those built in ``scratch``, atomically.

    The old tables (and their indexes) are dropped and the scratch copy's DDL
    and rows copied in, all in one write transaction, so no reader ever sees a
    half-built read model and a crash leaves the old one whole.
    ``before_copy`` runs once the store's write lock is held (no event can be
    committed until the swap ends).
    """
    _swap(store, [(scratch, specs)], before_copy=before_copy)


def _swap(
    store: Path,
    parts: Sequence[tuple[Path, Sequence[ProjectionSpec]]],
    *,
    before_copy: Callable[[], None],
) -> None:
    """``swap_into_sqlite`` for several scratch files, all in the same one transaction."""
    with contextlib.closing(sqlite3.connect(store, timeout=60, isolation_level=None)) as db:
        _copy_in(db, parts, before_copy, drop=True)


def _copy_in(
    db: sqlite3.Connection,
    parts: Sequence[tuple[Path, Sequence[ProjectionSpec]]],
    before_copy: Callable[[], None],
    *,
    drop: bool = False,
) -> None:
    """Copies each part's tables (DDL, rows, then indexes) into ``db``'s main database.

    One write transaction; with ``drop`` the tables' old versions go first.
    ``before_copy`` runs once the write lock is held.
    """
    attached: list[tuple[str, list[Any]]] = []
    try:
        for i, (scratch, specs) in enumerate(parts):
            schema = f"scratch{i}"
            db.execute(f"ATTACH DATABASE ? AS {schema}", (str(scratch),))
            tables = [t for spec in specs for t in _owned_tables(spec)]
            attached.append((schema, tables))
        plans = []
        for schema, tables in attached:
            marks = ",".join("?" * len(tables))
            ddl = db.execute(
                f"SELECT type, name, sql FROM {schema}.sqlite_master "
                f"WHERE tbl_name IN ({marks}) AND sql IS NOT NULL",
                tables,
            ).fetchall()
            # Parents before children: the catalog lists tables children first.
            order = {name: i for i, name in enumerate(reversed(tables))}
            created = sorted(
                (r for r in ddl if r[0] == "table"), key=lambda r: order.get(r[1], len(order))
            )
            plans.append((schema, tables, ddl, created))
        # Deferred, not IMMEDIATE: that would lock the attached scratch files too.
        # A write on the store takes its write lock, and only the store's.
        db.execute("BEGIN")
        try:
            db.execute("CREATE TABLE main.carelog_rebuild_lock (x INTEGER)")
            db.execute("DROP TABLE main.carelog_rebuild_lock")
            if drop:
                for _, tables, _, _ in plans:
                    for table in tables:
                        db.execute(f'DROP TABLE IF EXISTS main."{table}"')
            before_copy()
            for schema, _, ddl, created in plans:
                for _, _, sql in created:
                    db.execute(sql)
                for _, name, _ in created:
                    db.execute(f'INSERT INTO main."{name}" SELECT * FROM {schema}."{name}"')
                for kind, _, sql in ddl:
                    if kind == "index":
                        db.execute(sql)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        for schema, _ in attached:
            db.execute(f"DETACH DATABASE {schema}")


def rebuild_in_place(
    app: Any,
    specs: Sequence[ProjectionSpec],
    views: Mapping[str, TrackingRecorder],
    make_view: ViewMaker,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    log_setup: Callable[[], None] | None = None,
) -> int:
    """Drops ``specs``' tables and tracking tables, recreates them and replays; returns the head.

    For PostgreSQL stores: ``views`` are the store's current views (their
    datastore runs the DROP, in one transaction), ``make_view`` builds a new
    one, which creates the tables again. The replay is exactly-once like any
    catch-up, so a runner writing at the same time cannot double an event; but
    readers see the read model grow while it runs (stop ``carelog serve`` for
    a clean cut-over), and a failed replay leaves it part-built until the next.
    Groups of read models replay in worker processes as for ``build_sqlite``
    when ``make_view`` can be sent to one (a module-level function or a
    ``functools.partial`` of one); otherwise, with ``workers=None``, in this one.

    Raises:
        RebuildError: a worker failed.
    """
    for spec in specs:
        view: Any = views[spec.key]
        schema = view.datastore.schema
        with view.datastore.transaction(commit=True) as c:
            for table in _owned_tables(spec):
                c.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE')
    fresh = {spec.key: make_view(spec) for spec in specs}
    try:
        if workers is None and not _sendable(make_view):
            workers = 1
        groups = _groups(app, specs, workers)
        if len(groups) == 1:
            return _feed(app, specs, fresh, as_of=None, progress=progress)
    finally:
        _close(fresh)  # the tables exist now; each worker opens views of its own
    return _build_parts(
        app,
        groups,
        [make_view] * len(groups),
        as_of=None,
        progress=progress,
        log_setup=log_setup,
    )


def _sendable(value: Any) -> bool:
    """Whether ``value`` can be sent to a worker process."""
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _remove(path: Path) -> None:
    for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def scratch_path(store: Path, label: str) -> Iterator[Path]:
    """A scratch file beside ``store`` for this process's rebuild, removed afterwards.

    Named after the process, so two rebuilds never share one; copies left by
    a rebuild that was killed (its process is gone) are removed first.
    """
    for stale in store.parent.glob(f"{store.stem}.*.rebuild.db"):
        pid = stale.name[len(store.stem) + 1 :].split(".")[0].rpartition("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(stale)
    path = store.with_name(f"{store.stem}.{label}-{os.getpid()}.rebuild.db")
    _remove(path)
    try:
        yield path
    finally:
        _remove(path)
