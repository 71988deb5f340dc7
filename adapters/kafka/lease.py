"""One relay per store and topic: a PostgreSQL session advisory lock as the lease.

Several ``carelog serve`` processes may share one PostgreSQL database; if each
published the whole log, every event would reach the topic once per process.
The process whose session holds the advisory lock publishes; the others try
again every second. The lock goes with its session, so a crashed leader's
lease is free as soon as PostgreSQL notices the connection is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from typing import Any

import psycopg

from engine.config import postgres_url_params

__all__ = ["PostgresLease"]


class PostgresLease:
    """``pg_try_advisory_lock`` on a connection of its own, held while it lives."""

    def __init__(self, env: Mapping[str, str], name: str) -> None:
        self._params: dict[str, Any] = {
            "host": env["POSTGRES_HOST"],
            "port": int(env["POSTGRES_PORT"]),
            "dbname": env["POSTGRES_DBNAME"],
            "user": env["POSTGRES_USER"],
            "password": env.get("POSTGRES_PASSWORD") or None,
            "connect_timeout": 5,
            "autocommit": True,
            **postgres_url_params(env),  # sslmode & co. of the store URL
        }
        # A stable signed 64-bit key from the lease name (same in every process).
        self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    def acquire(self) -> bool:
        """True when this process holds the lease (now or already)."""
        if self._held and self.held():
            return True
        self._close()
        try:
            self._conn = psycopg.connect(**self._params)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error:
            self._close()
            return False
        self._held = bool(row and row[0])
        if not self._held:
            self._close()
        return self._held

    def held(self) -> bool:
        """False once the lease's session is gone (then another process may lead)."""
        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self._held = False
            self._close()
        return self._held

    def release(self) -> None:
        self._held = False
        self._close()  # closing the session releases the lock

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
