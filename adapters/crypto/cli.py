"""`carelog erase`, `carelog keys rotate`, `carelog backup`, `carelog restore` (CONTRACT.md).

Parsing and printing; the work is in adapters.crypto (keys, backup) and the
projections' rebuild. Exit codes: 0 done, 1 refused (unknown patient), 2 bad
usage or configuration (cli.main's CarelogError handling).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from engine.config import Settings
from engine.errors import CarelogError, ConfigError

__all__ = ["HANDLERS", "add_parsers"]

_STORE_HELP = "sqlite:///PATH or postgresql://... (env CARELOG_STORE)"


def add_parsers(sub: Any) -> None:
    """Adds erase, keys, backup and restore to ``carelog``'s subparsers."""
    erase = sub.add_parser("erase", help="crypto-shred a patient's data (forget its data key)")
    erase.add_argument("--store", help=_STORE_HELP)
    erase.add_argument("--patient", required=True, help="patient id (UUID) or AUTHORITY|MRN")
    erase.add_argument("--reason", required=True, help="why (recorded; write no PHI here)")

    keys = sub.add_parser("keys", help="the keys of data at rest")
    keys.add_argument("action", choices=("rotate",), help="rotate: re-wrap under a new master key")
    keys.add_argument("--store", help=_STORE_HELP)

    backup = sub.add_parser("backup", help="an online, consistent copy of the embedded store")
    backup.add_argument("path", type=Path, help="the backup file to write (must not exist)")
    backup.add_argument("--store", help=_STORE_HELP)

    restore = sub.add_parser("restore", help="a backup back into place, read models rebuilt")
    restore.add_argument("path", type=Path, help="the backup file to read")
    restore.add_argument("--store", help=_STORE_HELP)


def _settings(args: argparse.Namespace, *, exists: bool = True) -> Settings:
    settings = Settings.from_env(os.environ)
    if args.store:
        settings = replace(settings, store=args.store)
    settings.eventsourcing_env()
    if settings.backend == "memory":
        raise ConfigError("CARELOG_STORE: a memory: store keeps nothing to work on")
    if exists and settings.backend == "sqlite" and not settings.sqlite_path().exists():
        raise ConfigError(f"CARELOG_STORE: {settings.sqlite_path()} does not exist")
    from adapters.logging import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    return settings


def rebuild_read_models(engine: Any) -> int:
    """Every read model rebuilt from the history (records of erased patients decode to nothing)."""
    import functools

    from adapters.bootstrap import build_view
    from projections.catalog import CATALOG
    from projections.rebuild import rebuild_in_place, rebuild_sqlite

    settings = engine.settings
    if settings.backend == "sqlite":
        return int(rebuild_sqlite(engine.ingestion, list(CATALOG), settings.sqlite_path()))
    env = settings.eventsourcing_env()
    return int(
        rebuild_in_place(
            engine.ingestion,
            list(CATALOG),
            engine.views,
            functools.partial(build_view, settings=settings, env=env),
        )
    )


def _erase(args: argparse.Namespace) -> int:
    from adapters.bootstrap import build
    from adapters.http.history import resolve_patient
    from engine.domain.erasure import Erasure, erasure_id_for

    settings = _settings(args)
    if not settings.encryption:
        raise ConfigError("CARELOG_ENCRYPTION=off: erasure needs encrypted data at rest")
    engine = build(settings)
    try:
        engine.runner.catch_up()
        patient_id = resolve_patient(engine.views, args.patient)
        if patient_id is None:
            print(f"carelog erase: patient {args.patient} is not known", file=sys.stderr)
            return 1
        group = sorted(engine.views["history"].merged_group(patient_id))
        now = datetime.now(UTC)
        erasures = [
            Erasure.record(
                erasure_id_for(p),
                erased_patient=p,
                merged_with=tuple(o for o in group if o != p),
                reason=args.reason,
                requested_by=f"cli:{getpass.getuser()}",
                occurred_at=now,
            )
            for p in group
            if engine.ingestion.current(erasure_id_for(p)) is None  # re-run: recorded already
        ]
        # Recorded first: a crash before the keys are gone leaves a record to re-run.
        if erasures:
            engine.ingestion.save(*erasures)
        keyring = engine.ingestion.mapper.keyring  # type: ignore[attr-defined]  # EnvelopeMapper
        forgotten = keyring.forget([UUID(p).hex for p in group])
        rebuild_read_models(engine)
        if settings.backend == "sqlite":
            _scrub(settings.sqlite_path())
    finally:
        engine.close()
    others = f" (merged with {', '.join(group[1:]) if len(group) > 1 else 'none'})"
    print(
        f"erased patient {patient_id}{others}: {forgotten} data key(s) forgotten, "
        f"{len(erasures)} erasure record(s) added, read models rebuilt"
    )
    return 0


def _scrub(store: Path) -> None:
    """Rewrites the store file so that freed pages (the old read-model tables) are gone.

    Best effort while ``serve`` runs (VACUUM needs a moment without writers);
    says so when it could not, and the next erase or a `carelog replay` retries.
    """
    import sqlite3

    db = sqlite3.connect(store, timeout=30, isolation_level=None)
    try:
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError as e:
        print(f"carelog erase: could not compact {store} now ({e}); run it again", file=sys.stderr)
    finally:
        db.close()


def _keys(args: argparse.Namespace) -> int:
    from adapters.crypto.keys import Keyring, MasterKey, private_file

    settings = _settings(args)
    env = settings.eventsourcing_env()
    keyring = Keyring.open(env, create=False)
    old = keyring.master
    if settings.master_key:
        text = os.environ.get("CARELOG_NEW_MASTER_KEY", "")
        if not text:
            raise ConfigError(
                "CARELOG_MASTER_KEY is set: give the new key in CARELOG_NEW_MASTER_KEY "
                "(then put it in CARELOG_MASTER_KEY)"
            )
        new = MasterKey.parse(text, "CARELOG_NEW_MASTER_KEY")
        count = keyring.rotate(new)
    else:
        path = settings.key_path() / "master.key"
        new = MasterKey.generate()
        # The new key is durable before any data key depends on it; the old one
        # stays until every data key is re-wrapped (one transaction).
        private_file(path.with_name("master.key.new"), new.text().encode())
        count = keyring.rotate(new)
        os.replace(path.with_name("master.key.new"), path)
    keyring.close()
    print(f"re-wrapped {count} data key(s): master key {old.key_id} -> {new.key_id}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from adapters.crypto.backup import backup_sqlite

    settings = _settings(args)
    if settings.backend != "sqlite":
        raise ConfigError("carelog backup: the embedded SQLite store only (PostgreSQL: pg_dump)")
    try:
        events = backup_sqlite(settings.sqlite_path(), args.path)
    except FileExistsError as e:
        raise CarelogError(f"{args.path} exists: choose a new file") from e
    print(f"{args.path}: {events} event(s), seals; no read models, no keys")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from adapters.bootstrap import build
    from adapters.crypto.backup import restore_sqlite

    settings = _settings(args, exists=False)
    if settings.backend != "sqlite":
        raise ConfigError(
            "carelog restore: the embedded SQLite store only (PostgreSQL: pg_restore)"
        )
    target = settings.sqlite_path()
    try:
        restore_sqlite(args.path, target)
    except FileExistsError as e:
        raise CarelogError(
            f"{target} exists (perhaps a running store): restore only into a new path"
        ) from e
    engine = build(settings)
    try:
        head = rebuild_read_models(engine)
    finally:
        engine.close()
    print(f"restored {args.path} to {target}: {head} event(s), read models rebuilt")
    return 0


HANDLERS = {"erase": _erase, "keys": _keys, "backup": _backup, "restore": _restore}
