"""The retention register: which stored records retention deleted, so verify can tell.

Retention deletes the stored records of rejected messages (RejectedMessage
aggregates: not domain history, see docs/data-at-rest.md). The seal chain
still names their positions, and ``carelog verify`` would report each as
``deleted``. So, in the same transaction as the delete, each position goes
into ``carelog_pruned`` with its aggregate id and topic and a tag:
HMAC-SHA256 with the seal key over (position, aggregate id, topic). Verify
accepts a missing record only where a row with a valid tag names the topic
of a rejected message; anyone who deletes other records (or writes rows
without the seal key) is still reported. Without a seal key the tag is a
plain SHA-256, which, like the unkeyed chain, proves consistency only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from secrets import compare_digest
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

__all__ = ["PRUNED_TABLE", "PrunedRecord", "PrunedRegister", "pruned_tag"]

PRUNED_TABLE = "carelog_pruned"


@dataclass(frozen=True, slots=True)
class PrunedRecord:
    """One stored record retention deleted."""

    position: int
    originator_id: str
    topic: str
    pruned_at: str


def pruned_tag(record: PrunedRecord, key: bytes | None) -> bytes:
    """The tag of ``record``: HMAC-SHA256 with ``key``, SHA-256 without."""
    parts = [
        b"carelog-pruned",
        record.position.to_bytes(8, "big"),
        record.originator_id.encode(),
        record.topic.encode(),
    ]
    data = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    if key:
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(data)
        return mac.finalize()
    return hashlib.sha256(data).digest()


class PrunedRegister:
    """``carelog_pruned`` beside the events and the seals of ``recorder``'s database."""

    def __init__(self, recorder: Any, key: bytes | None) -> None:
        self.recorder = recorder
        self.key = key or None
        datastore = recorder.datastore
        self.postgres = hasattr(datastore, "schema")
        if self.postgres:
            self.table = f'"{datastore.schema}".{PRUNED_TABLE}'
            self.mark = "%s"
            self.blob = "BYTEA"
        else:
            self.table = PRUNED_TABLE
            self.mark = "?"
            self.blob = "BLOB"

    def create(self) -> None:
        """Creates the table if absent (retention does; verify only reads)."""
        with self.recorder.datastore.transaction(commit=True) as c:
            if self.mark == "%s":  # PostgreSQL: in turn with other processes' schema changes
                from projections.postgres_schema import lock_schema  # psycopg: PostgreSQL only

                lock_schema(c)
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (notification_id BIGINT PRIMARY KEY, "
                f"originator_id TEXT NOT NULL, topic TEXT NOT NULL, pruned_at TEXT NOT NULL, "
                f"tag {self.blob} NOT NULL)"
            )

    def add(self, cursor: Any, records: Sequence[PrunedRecord]) -> None:
        """Registers ``records`` in the caller's transaction (the one that deletes them)."""
        m = self.mark
        cursor.executemany(
            f"INSERT INTO {self.table} VALUES ({m}, {m}, {m}, {m}, {m}) "
            "ON CONFLICT (notification_id) DO NOTHING",
            [
                (r.position, r.originator_id, r.topic, r.pruned_at, pruned_tag(r, self.key))
                for r in records
            ],
        )

    def accepted(self, topics: frozenset[str]) -> dict[int, PrunedRecord]:
        """The registered positions whose tag is valid and whose topic is in ``topics``."""
        try:
            with self.recorder.datastore.transaction(commit=False) as c:
                c.execute(f"SELECT * FROM {self.table}")
                rows = c.fetchall()
        except Exception as e:  # no table: nothing was ever pruned in this store
            if "carelog_pruned" not in str(e):
                raise
            return {}
        found: dict[int, PrunedRecord] = {}
        for row in rows:
            record = PrunedRecord(
                int(row["notification_id"]), row["originator_id"], row["topic"], row["pruned_at"]
            )
            if record.topic in topics and compare_digest(
                pruned_tag(record, self.key), bytes(row["tag"])
            ):
                found[record.position] = record
        return found
