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
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import TrackingRecorder

from projections.catalog import ProjectionSpec
from projections.replay_feed import AsOf, Progress, build_here, close_views, feed
from projections.replay_workers import ViewMaker, build_parts, groups_for, sendable
from projections.sqlite_swap import copy_in, owned_tables, remove_db_files, scratch_path, swap_all

__all__ = ["AS_OF_TABLE", "build_sqlite", "rebuild_in_place", "rebuild_sqlite"]

AS_OF_TABLE = "carelog_as_of"
"""One row in an as-of file: which time it shows and up to which position it read."""


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
    groups = groups_for(app, specs, workers)
    if len(groups) == 1:
        head = build_here(app, specs, path, as_of=as_of, progress=progress)
    else:
        parts = [path] + [path.with_name(f"{path.name}.part{i}") for i in range(1, len(groups))]
        try:
            for part in parts[1:]:
                remove_db_files(part)
            head = build_parts(
                app, groups, parts, as_of=as_of, progress=progress, log_setup=log_setup
            )
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
                for part, group in zip(parts[1:], groups[1:], strict=True):
                    copy_in(db, [(part, group)], lambda: None)
        except BaseException:
            remove_db_files(path)
            raise
        finally:
            for part in parts[1:]:
                remove_db_files(part)
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
    groups = groups_for(app, specs, workers)
    with contextlib.ExitStack() as stack:
        parts = [
            (stack.enter_context(scratch_path(store, f"replay{i or ''}")), group)
            for i, group in enumerate(groups)
        ]
        if len(parts) == 1:
            build_here(app, specs, parts[0][0], as_of=None, progress=progress)
        else:
            scratches = [scratch for scratch, _ in parts]
            build_parts(app, groups, scratches, as_of=None, progress=progress, log_setup=log_setup)
        heads: list[int] = []

        def catch_up() -> None:
            for scratch, group in parts:
                heads.append(build_here(app, group, scratch, as_of=None, progress=None))

        swap_all(store, parts, before_copy=catch_up)
    return min(heads)


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
            for table in owned_tables(spec):
                c.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE')
    fresh = {spec.key: make_view(spec) for spec in specs}
    try:
        if workers is None and not sendable(make_view):
            workers = 1
        groups = groups_for(app, specs, workers)
        if len(groups) == 1:
            return feed(app, specs, fresh, as_of=None, progress=progress)
    finally:
        close_views(fresh)  # the tables exist now; each worker opens views of its own
    return build_parts(
        app,
        groups,
        [make_view] * len(groups),
        as_of=None,
        progress=progress,
        log_setup=log_setup,
    )
