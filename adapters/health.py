"""What makes carelog unhealthy, each cause named: /health (serve) and the worker's endpoint.

A process is unhealthy when it cannot do its job, not merely when it is up:
- ``relay``: the outbox relay's broker has not answered for longer than the
  grace (CARELOG_HEALTH_RELAY_GRACE); events wait in the store, read models
  built by workers fall behind.
- ``projection``: a read model raised on an event and is stuck there (which
  read model, which store position, the event's and the error's class).
- ``store``: the store refuses writes (read-only, gone, its last commit failed);
  messages are answered AE/AR and nothing is stored.
- ``broker`` (worker): the worker's broker has not answered for the grace.

Each cause is a small dict of identifiers and class names: never a message's or
an error's text (either can quote patient data).
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from engine.config import Settings, postgres_url_params

__all__ = [
    "BrokerWatch",
    "StoreProbe",
    "projection_cause",
    "relay_cause",
    "store_cause",
    "store_check",
    "store_size",
]

Cause = dict[str, Any]


class StoreProbe:
    """Checks that the store takes writes, at most every ``every_s`` (the last answer between)."""

    def __init__(
        self,
        check: Callable[[], None] | None,
        every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check = check
        self.every_s = every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._at: float | None = None
        self._failure: str | None = None
        self._since: float | None = None

    def failure(self) -> tuple[str, float] | None:
        """(error class, since when) while the store refuses writes, else None."""
        if self.check is None:
            return None
        with self._lock:
            now = self.clock()
            if self._at is None or now - self._at >= self.every_s:
                self._at = now
                try:
                    self.check()
                except Exception as e:
                    self._failure = type(e).__name__
                    self._since = self._since or time.time()
                else:
                    self._failure = self._since = None
            if self._failure is None or self._since is None:
                return None
            return self._failure, self._since


class StoreReadOnly(Exception):
    """The store answers but takes no writes (a read-only database, a standby)."""


def store_check(settings: Settings) -> Callable[[], None] | None:
    """A write check for the store of ``settings``; None for the memory store."""
    if settings.backend == "sqlite":
        path = settings.sqlite_path()

        def sqlite_check() -> None:
            # mode=rw: a missing file is an error here, not a new empty store.
            con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0.2)
            try:
                con.isolation_level = None
                con.execute("BEGIN IMMEDIATE")  # takes the write lock: what a commit needs
                con.execute("ROLLBACK")
            except sqlite3.OperationalError as e:
                if "locked" in str(e) or "busy" in str(e):
                    return  # the writer holds the lock: it is writing
                raise
            finally:
                con.close()

        return sqlite_check
    if settings.backend == "postgres":
        params = _postgres_params(settings)

        def postgres_check() -> None:
            with psycopg.connect(**params) as conn:
                row = conn.execute(
                    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
                ).fetchone()
            if row is None or row[0] or row[1] == "on":
                raise StoreReadOnly("the database takes no writes")

        return postgres_check
    return None


def store_size(settings: Settings) -> Callable[[], float | None]:
    """Bytes the store takes on disk (the SQLite files, the PostgreSQL database)."""
    if settings.backend == "sqlite":
        path = settings.sqlite_path()

        def sqlite_size() -> float | None:
            total = 0
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    total += path.with_name(path.name + suffix).stat().st_size
            return float(total)

        return sqlite_size
    if settings.backend == "postgres":
        params = _postgres_params(settings)

        def postgres_size() -> float | None:
            try:
                with psycopg.connect(**params) as conn:
                    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            except psycopg.Error:
                return None
            return float(row[0]) if row else None

        return postgres_size
    return lambda: None


def _postgres_params(settings: Settings) -> dict[str, Any]:
    """A short-lived connection's parameters (its own, outside the store's pools)."""
    env = settings.eventsourcing_env()
    return {
        "host": env["POSTGRES_HOST"],
        "port": int(env["POSTGRES_PORT"]),
        "dbname": env["POSTGRES_DBNAME"],
        "user": env["POSTGRES_USER"],
        "password": env.get("POSTGRES_PASSWORD") or None,
        "connect_timeout": 2,
        "autocommit": True,
        **postgres_url_params(env),
    }


def store_cause(probe: StoreProbe, writer_failing: tuple[str, float] | None) -> Cause | None:
    """The ``store`` cause: the probe's failure, else the writer's last failed commit."""
    failure = probe.failure() or writer_failing
    if failure is None:
        return None
    error, since = failure
    return {"cause": "store", "detail": "the store takes no writes", "error": error, "since": since}


def relay_cause(relay: Any, grace_s: float, now: float | None = None) -> Cause | None:
    """The ``relay`` cause once its broker has failed for longer than ``grace_s``."""
    since = relay.failing_since
    if since is None:
        return None
    failing_for = (time.time() if now is None else now) - since
    if failing_for < grace_s:
        return None
    return {
        "cause": "relay",
        "detail": f"the broker has not answered for {failing_for:.0f} s (grace {grace_s:g} s)",
        "error": type(relay.error).__name__ if relay.error is not None else None,
        "since": round(since, 3),
        "published_position": relay.last_published,
    }


def projection_cause(runner: Any) -> Cause | None:
    """The ``projection`` cause: stuck on an event, or every round failing."""
    stuck = getattr(runner, "stuck", None)
    if stuck is not None:
        facts: dict[str, Any] = stuck.facts()
        return {"cause": "projection", "detail": "a read model is stuck on an event", **facts}
    if runner.error is not None:
        return {
            "cause": "projection",
            "detail": "the projections cannot catch up",
            "error": type(runner.error).__name__,
        }
    return None


class BrokerWatch:
    """Whether any bootstrap server accepts a TCP connection, checked every ``every_s``.

    The worker's consumer hides broker outages inside faust; a plain connect
    says whether the broker is there at all, which is what the worker needs to
    apply anything.
    """

    def __init__(self, servers: str, every_s: float = 1.0) -> None:
        self.servers = [s.strip() for s in servers.split(",") if s.strip()]
        self.every_s = every_s
        self.failing_since: float | None = None
        self.error: str | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            if time.monotonic() - self._at < self.every_s:
                return
            self._at = time.monotonic()
            for server in self.servers:
                host, _, port = server.rpartition(":")
                try:
                    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
                        self.failing_since = self.error = None
                        return
                except (OSError, ValueError) as e:
                    self.error = type(e).__name__
            if self.failing_since is None:
                self.failing_since = time.time()

    def cause(self, grace_s: float) -> Cause | None:
        self.check()
        if self.failing_since is None:
            return None
        failing_for = time.time() - self.failing_since
        if failing_for < grace_s:
            return None
        return {
            "cause": "broker",
            "detail": f"the broker has not answered for {failing_for:.0f} s (grace {grace_s:g} s)",
            "error": self.error,
            "since": round(self.failing_since, 3),
        }
