"""Swapping rebuilt SQLite read models into the store, and the scratch files they are built in.

``swap_into_sqlite`` replaces a projection's tables and tracking table in the
store with those of a scratch file in ONE write transaction (readers see the
old read model or the new one, never half of it); ``scratch_path`` names a
scratch file beside the store for this process and removes those of
rebuilds that were killed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from projections.catalog import ProjectionSpec

__all__ = [
    "copy_in",
    "owned_tables",
    "remove_db_files",
    "scratch_path",
    "swap_all",
    "swap_into_sqlite",
]


def owned_tables(spec: ProjectionSpec) -> list[str]:
    return [*spec.tables, f"{spec.name}_tracking"]


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
    swap_all(store, [(scratch, specs)], before_copy=before_copy)


def swap_all(
    store: Path,
    parts: Sequence[tuple[Path, Sequence[ProjectionSpec]]],
    *,
    before_copy: Callable[[], None],
) -> None:
    """``swap_into_sqlite`` for several scratch files, all in the same one transaction."""
    with contextlib.closing(sqlite3.connect(store, timeout=60, isolation_level=None)) as db:
        copy_in(db, parts, before_copy, drop=True)


def copy_in(
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
            tables = [t for spec in specs for t in owned_tables(spec)]
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


def remove_db_files(path: Path) -> None:
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
            remove_db_files(stale)
    path = store.with_name(f"{store.stem}.{label}-{os.getpid()}.rebuild.db")
    remove_db_files(path)
    try:
        yield path
    finally:
        remove_db_files(path)
