"""Seals: a keyed hash chain over every stored event record, kept beside them.

For each stored record in notification order::

    seal_n = HMAC-SHA256(key, seal_prev || id || originator id || version || topic || state)

where ``seal_prev`` is the seal of the record sealed before it (32 zero bytes
for the first) and every part is length-prefixed. The key comes from
``CARELOG_SEAL_KEY``; without one the chain is plain SHA-256, which proves the
history is consistent with itself but not who wrote it (anyone with write
access could rebuild the chain). Seals are written after the events are
committed, by ``Sealer.seal`` (a thread in ``carelog serve``, nudged after
each commit). A crash between the two leaves an unsealed tail, which
``carelog verify`` reports as such and ``carelog verify --seal`` seals; it is
never mistaken for tampering.

The writer of the same process hands each commit's recordings over
(``offer``); a round seals those from memory (the same bytes the store
holds) when they continue exactly from the last seal, and reads the store
for anything else (a gap, a restart, another writer, a full queue).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import structlog
from cryptography.hazmat.primitives import hashes, hmac
from eventsourcing.persistence import Notification, Recording

from projections.handover import HANDOVER_LIMIT, Handover

__all__ = ["GENESIS", "HANDOVER_LIMIT", "SEALS_TABLE", "Sealer", "next_seal"]

log = structlog.get_logger(__name__)

SEALS_TABLE = "carelog_seals"
GENESIS = bytes(32)
"""The seal before the first record."""


def _record_bytes(n: Notification) -> Iterator[bytes]:
    topic = n.topic.encode()
    originator = str(n.originator_id).encode()
    yield n.id.to_bytes(8, "big")
    yield len(originator).to_bytes(4, "big") + originator
    yield int(n.originator_version).to_bytes(8, "big", signed=True)
    yield len(topic).to_bytes(4, "big") + topic
    yield len(n.state).to_bytes(8, "big") + bytes(n.state)


def next_seal(previous: bytes, record: Notification, key: bytes | None) -> bytes:
    """The seal of ``record`` after ``previous``: HMAC-SHA256 with ``key``, SHA-256 without."""
    if key:
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(previous)
        for part in _record_bytes(record):
            mac.update(part)
        return mac.finalize()
    digest = hashlib.sha256(previous)
    for part in _record_bytes(record):
        digest.update(part)
    return digest.digest()


class Sealer:
    """Seals whatever the store holds that is not sealed yet, in the store's own database.

    ``recorder`` is the application's recorder (SQLite or PostgreSQL); the
    seals table is created beside its events on first use.
    """

    def __init__(
        self,
        recorder: Any,
        key: bytes | None,
        *,
        batch_size: int = 1000,
        handover_limit: int = HANDOVER_LIMIT,
    ) -> None:
        self.recorder = recorder
        self.key = key or None
        self.batch_size = batch_size
        datastore = recorder.datastore
        self._postgres = hasattr(datastore, "schema")
        if self._postgres:
            self.table = f'"{datastore.schema}".{SEALS_TABLE}'
            self._mark = "%s"
            blob = "BYTEA"
        else:
            self.table = SEALS_TABLE
            self._mark = "?"
            blob = "BLOB"
        with datastore.transaction(commit=True) as c:
            if self._postgres:  # processes starting together create it in turn
                from projections.postgres_schema import lock_schema  # psycopg: PostgreSQL only

                lock_schema(c)
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} "
                f"(notification_id BIGINT PRIMARY KEY, seal {blob} NOT NULL)"
            )
        self._lock = threading.Lock()
        self._nudge = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handed = Handover(handover_limit)
        self.handed_over = 0  # records sealed from the hand-over (not read from the store)

    @property
    def running(self) -> bool:
        """Whether the background loop runs (``start`` called, ``stop`` not yet)."""
        return self._thread is not None

    @property
    def keyed(self) -> bool:
        """Whether seals are HMACs (authenticity) rather than plain hashes (consistency)."""
        return self.key is not None

    def last_seal(self) -> tuple[int, bytes]:
        """The highest sealed position and its seal; (0, GENESIS) before any."""
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, seal FROM {self.table} "
                "ORDER BY notification_id DESC LIMIT 1"
            )
            row = c.fetchone()
        if row is None:
            return 0, GENESIS
        return int(row["notification_id"]), bytes(row["seal"])

    def seals_between(self, first: int, last: int) -> dict[int, bytes]:
        """Stored seals for positions ``first`` to ``last`` inclusive."""
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, seal FROM {self.table} "
                f"WHERE notification_id >= {self._mark} AND notification_id <= {self._mark}",
                (first, last),
            )
            return {int(r["notification_id"]): bytes(r["seal"]) for r in c.fetchall()}

    def seal(self) -> int:
        """Seals every record after the last sealed one, up to the head; returns how many.

        Each batch commits on its own: a crash loses only the unsealed rest,
        which the next call seals. A record sealed by a concurrent sealer is
        left as it is (same records, same key: same seal).
        """
        sealed = 0
        with self._lock:
            handed = self._handed.take()  # before the head: all of it is at or below
            position, previous = self.last_seal()
            head = self.recorder.max_notification_id() or 0
            fast = _continuing(handed, position + 1, head)
            if fast:
                previous = self._write(fast, previous)
                sealed += len(fast)
                self.handed_over += len(fast)
                position = fast[-1].id
            while position < head:
                batch = self.recorder.select_notifications(position + 1, self.batch_size, stop=head)
                if not batch:
                    break
                previous = self._write(batch, previous)
                sealed += len(batch)
                position = batch[-1].id
        if sealed:
            log.debug("seal.sealed", count=sealed, notification_id=position)
        return sealed

    def _write(self, records: Sequence[Notification], previous: bytes) -> bytes:
        """Seals ``records`` (in order, after ``previous``) in one transaction; the last seal."""
        rows = []
        for record in records:
            previous = next_seal(previous, record, self.key)
            rows.append((record.id, previous))
        with self.recorder.datastore.transaction(commit=True) as c:
            c.executemany(
                f"INSERT INTO {self.table} VALUES ({self._mark}, {self._mark}) "
                "ON CONFLICT (notification_id) DO NOTHING",
                rows,
            )
        return previous

    def offer(self, recordings: Sequence[Recording[Any]]) -> None:
        """Hands over a commit's recordings, in commit order (the writer calls this after it).

        Cheap and safe from any thread: it only queues them for the next round.
        """
        self._handed.offer(recordings)

    def nudge(self) -> None:
        """Asks the background loop to seal now (after a commit)."""
        self._nudge.set()

    def start(self, poll_interval_s: float = 1.0, min_interval_s: float = 0.2) -> None:
        """Seals in a daemon thread until ``stop``.

        Rounds are at least ``min_interval_s`` apart, so that under load many
        commits share one sealing transaction instead of each competing with
        the ingest writer for the store's write lock.
        """

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.seal()
                except Exception:  # keep serving; the next round seals what is left
                    log.exception("seal.failed")
                self._stop.wait(min_interval_s)
                self._nudge.wait(poll_interval_s)
                self._nudge.clear()

        self._thread = threading.Thread(target=loop, name="sealer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the loop (if started), then seals whatever is left.

        A sealer that was never started seals nothing here: commands such as
        ``carelog verify`` must not bless records they have not checked.
        """
        if self._thread is None:
            return
        self._stop.set()
        self._nudge.set()
        self._thread.join(timeout=10)
        self._thread = None
        self.seal()


def _continuing(handed: list[Recording[Any]], start: int, head: int) -> list[Notification]:
    """The handed-over records that continue exactly from ``start`` (up to a gap or ``head``)."""
    records: list[Notification] = []
    expected = start
    for recording in handed:
        record = recording.notification
        if record.id < expected:
            continue  # sealed already
        if record.id != expected or record.id > head:
            break  # a gap: the store has the rest
        records.append(record)
        expected += 1
    return records
