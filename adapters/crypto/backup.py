"""Online backup of the embedded store: events and seals, never read models or keys.

SQLite's backup API copies a consistent snapshot while ``serve`` writes (in
one step, so a busy writer cannot make it start over forever; WAL readers do
not block writers). The copy then loses every read-model table and is
vacuumed (``secure_delete``): read models hold plain PHI for queries, and a
backup taken before an erasure must not keep a readable copy of it. The
keys live elsewhere (the keys directory), so an erased patient stays erased
in every backup. Written to ``PATH.part`` (0600) and renamed when complete:
a kill -9 leaves the source untouched and no half backup under ``PATH``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = ["KEPT_TABLES", "backup_sqlite", "restore_sqlite"]

KEPT_TABLES = frozenset({"stored_events", "carelog_seals"})


def _private_empty(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def backup_sqlite(store: Path, path: Path) -> int:
    """Writes the backup of ``store`` to ``path``; returns the number of events in it.

    Raises:
        FileExistsError: ``path`` exists.
    """
    if path.exists():
        raise FileExistsError(path)
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    _private_empty(part)
    source = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(part)
    try:
        source.backup(target, pages=-1)  # one step: one consistent snapshot
        target.execute("PRAGMA secure_delete=ON")
        tables = [
            r[0]
            for r in target.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if not r[0].startswith("sqlite_")
        ]
        for table in tables:
            if table not in KEPT_TABLES:
                target.execute(f'DROP TABLE "{table}"')
        target.commit()
        target.execute("PRAGMA journal_mode=DELETE")
        target.execute("VACUUM")
        (count,) = target.execute("SELECT count(*) FROM stored_events").fetchone()
    finally:
        target.close()
        source.close()
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, path)
    return int(count)


def restore_sqlite(path: Path, store: Path) -> None:
    """Copies backup ``path`` to a new store file ``store`` (0600), through the backup API.

    Raises:
        FileExistsError: ``store`` exists (never restored over a store, running or not).
    """
    if store.exists():
        raise FileExistsError(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    part = store.with_name(store.name + ".part")
    part.unlink(missing_ok=True)
    _private_empty(part)
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(part)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    os.replace(part, store)
