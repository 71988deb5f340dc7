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
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from eventsourcing.persistence import TrackingRecorder
from eventsourcing.sqlite import SQLiteFactory

from projections.catalog import ProjectionSpec
from projections.decoding import event_decoder
from projections.runner import PollingProjectionRunner

__all__ = [
    "AS_OF_TABLE",
    "AsOf",
    "Progress",
    "build_sqlite",
    "parse_time",
    "rebuild_in_place",
    "rebuild_sqlite",
    "scratch_path",
    "swap_into_sqlite",
]

Progress = Callable[[int, int], None]
"""Called with (position reached, head) as a rebuild goes."""

AS_OF_TABLE = "carelog_as_of"
"""One row in an as-of file: which time it shows and up to which position it read."""

REBUILD_BATCH = 10_000  # events per view transaction while rebuilding
BULK_CACHE_KIB = 256 * 1024  # SQLite page cache of a scratch or as-of file while it is built


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


def build_sqlite(
    app: Any,
    specs: Sequence[ProjectionSpec],
    path: Path,
    *,
    as_of: AsOf | None = None,
    progress: Progress | None = None,
) -> int:
    """Builds ``specs``' read models from position 0 into a new SQLite file; returns the head.

    The file holds each projection's tables and ``<name>_tracking`` exactly as
    in a SQLite store, plus (with ``as_of``) a ``carelog_as_of`` row saying
    which time it shows, so two files can be compared with ATTACH.

    Raises:
        FileExistsError: ``path`` exists (an earlier build is never overwritten).
    """
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    views = _sqlite_views(specs, path)
    try:
        head = _feed(app, specs, views, as_of=as_of, progress=progress)
    finally:
        _close(views)
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
) -> int:
    """Rebuilds ``specs`` in a scratch file beside ``store``, then swaps them in; returns the head.

    The scratch copy is caught up once more while the swap holds the store's
    write lock, so it holds every event committed before the swap: a runner
    that goes on from the swapped-in position (``carelog serve``'s) misses
    nothing and doubles nothing, whatever it had seen before.
    """
    with scratch_path(store, "replay") as scratch:
        views = _sqlite_views(specs, scratch)
        try:
            _feed(app, specs, views, as_of=None, progress=progress)
            heads: list[int] = []

            def catch_up() -> None:
                heads.append(_feed(app, specs, views, as_of=None, progress=None))

            swap_into_sqlite(store, scratch, specs, before_copy=catch_up)
        finally:
            _close(views)
    return heads[-1]


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
    tables = [t for spec in specs for t in _owned_tables(spec)]
    with contextlib.closing(sqlite3.connect(store, timeout=60, isolation_level=None)) as db:
        db.execute("ATTACH DATABASE ? AS scratch", (str(scratch),))
        try:
            marks = ",".join("?" * len(tables))
            ddl = db.execute(
                "SELECT type, name, sql FROM scratch.sqlite_master "
                f"WHERE tbl_name IN ({marks}) AND sql IS NOT NULL",
                tables,
            ).fetchall()
            # Parents before children: the catalog lists tables children first.
            order = {name: i for i, name in enumerate(reversed(tables))}
            created = sorted(
                (r for r in ddl if r[0] == "table"), key=lambda r: order.get(r[1], len(order))
            )
            # Deferred, not IMMEDIATE: that would lock the attached scratch file too.
            # A write on the store takes its write lock, and only the store's.
            db.execute("BEGIN")
            try:
                db.execute("CREATE TABLE main.carelog_rebuild_lock (x INTEGER)")
                db.execute("DROP TABLE main.carelog_rebuild_lock")
                for table in tables:
                    db.execute(f'DROP TABLE IF EXISTS main."{table}"')
                before_copy()
                for _, _, sql in created:
                    db.execute(sql)
                for _, name, _ in created:
                    db.execute(f'INSERT INTO main."{name}" SELECT * FROM scratch."{name}"')
                for kind, _, sql in ddl:
                    if kind == "index":
                        db.execute(sql)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            db.execute("DETACH DATABASE scratch")


def rebuild_in_place(
    app: Any,
    specs: Sequence[ProjectionSpec],
    views: Mapping[str, TrackingRecorder],
    make_view: Callable[[ProjectionSpec], TrackingRecorder],
    *,
    progress: Progress | None = None,
) -> int:
    """Drops ``specs``' tables and tracking tables, recreates them and replays; returns the head.

    For PostgreSQL stores: ``views`` are the store's current views (their
    datastore runs the DROP, in one transaction), ``make_view`` builds a new
    one, which creates the tables again. The replay is exactly-once like any
    catch-up, so a runner writing at the same time cannot double an event; but
    readers see the read model grow while it runs (stop ``carelog serve`` for
    a clean cut-over).
    """
    for spec in specs:
        view: Any = views[spec.key]
        schema = view.datastore.schema
        with view.datastore.transaction(commit=True) as c:
            for table in _owned_tables(spec):
                c.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE')
    fresh = {spec.key: make_view(spec) for spec in specs}
    try:
        return _feed(app, specs, fresh, as_of=None, progress=progress)
    finally:
        _close(fresh)


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
