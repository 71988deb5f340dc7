"""Message retention that reclaims disk: rejected messages older than the limit go for good.

What goes: the stored records of RejectedMessage aggregates (the raw text
and faults of a message carelog answered AE/AR) received before the cut-off,
and the message log's index rows of every message before it. What stays:
accepted messages (InboundMessage, the source of domain events) and every
domain event, which are the history the seals and replays stand on.

Rejected messages are deleted rather than crypto-shredded: they share their
data key with the patient's other records (or the shared key), so forgetting
a key would take domain history with it, and a shredded record still fills
the disk. Each deleted position is registered in ``carelog_pruned`` (in the
same transaction, with a tag under the seal key) so ``carelog verify`` still
passes and still reports any other missing record. Then the space is given
back: SQLite ``VACUUM`` (the file shrinks), PostgreSQL ``VACUUM`` (the pages
become free for new rows) or ``VACUUM FULL`` (the relation shrinks; it locks
the table, so only when asked).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.utils import get_topic

from engine.domain.rejected import RejectedMessage
from projections.audit.pruned import PrunedRecord, PrunedRegister

__all__ = [
    "PruneResult",
    "prune_messages",
    "reclaim_postgres",
    "reclaim_sqlite",
    "retention_loop",
    "store_bytes",
]

log = structlog.get_logger(__name__)

REJECTED_TOPIC = get_topic(RejectedMessage.Recorded)
_BATCH = 500


@dataclass
class PruneResult:
    """What one retention run did."""

    rejected_deleted: int = 0
    index_rows: int = 0


def prune_messages(engine: Any, before: datetime) -> PruneResult:
    """Deletes rejected messages received before ``before`` and the log rows before it.

    The message log must be caught up (the caller runs the projections first):
    it is the index that finds the rejected messages by time.
    """
    recorder = engine.ingestion.recorder
    register = PrunedRegister(recorder, engine.settings.seal_key.encode() or None)
    register.create()
    view = engine.views["messages"]
    result = PruneResult()
    head = recorder.max_notification_id() or 0
    done: set[str] = set()
    while True:
        # The head record is never deleted: SQLite would hand its rowid to the next insert.
        batch = [
            (entry_id, position)
            for entry_id, position in view.rejected_before(before, _BATCH + len(done))
            if entry_id not in done and position < head
        ][:_BATCH]
        if not batch:
            break
        result.rejected_deleted += _delete(recorder, register, batch)
        done.update(entry_id for entry_id, _ in batch)
    result.index_rows = view.forget_before(before)
    log.info(
        "retention.pruned",
        rejected_deleted=result.rejected_deleted,
        index_rows=result.index_rows,
        before=before.isoformat(),
    )
    return result


async def retention_loop(
    engine: Any,
    stop: asyncio.Event,
    days: int,
    *,
    first_after_s: float = 60.0,
    every_s: float = 3600.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """``serve``'s periodic retention: prunes every ``every_s`` until ``stop`` is set.

    It deletes only: the freed pages are reused by new records (SQLite's free
    list, PostgreSQL's free space map once autovacuum or VACUUM passes). A
    VACUUM that shrinks the file needs the store without writers for a while,
    which a serving process cannot promise: `carelog prune-messages` does it.
    """
    delay = first_after_s
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
            return
        except TimeoutError:
            pass
        try:
            await asyncio.to_thread(prune_messages, engine, now() - timedelta(days=days))
        except Exception:  # keep serving; the next round tries again
            log.exception("retention.failed")
        delay = every_s


def _delete(recorder: Any, register: PrunedRegister, batch: Sequence[tuple[str, int]]) -> int:
    """Deletes the rejected-message records at ``batch``'s positions (checked) in one commit."""
    datastore = recorder.datastore
    postgres = register.postgres
    table = (
        f'"{datastore.schema}".{recorder.events_table_name}'
        if postgres
        else recorder.events_table_name
    )
    position_column = "notification_id" if postgres else "rowid"
    m = register.mark
    wanted = {position: entry_id for entry_id, position in batch}
    marks = ",".join(m * 1 for _ in wanted)
    now = datetime.now(UTC).isoformat()
    with datastore.transaction(commit=True) as c:
        c.execute(
            f"SELECT {position_column} AS position, originator_id, topic FROM {table} "
            f"WHERE {position_column} IN ({marks})",
            list(wanted),
        )
        records = [
            PrunedRecord(
                int(row["position"]), str(UUID(str(row["originator_id"]))), row["topic"], now
            )
            for row in c.fetchall()
        ]
        # Only what the log says is this rejected message: never another record.
        records = [
            r
            for r in records
            if r.topic == REJECTED_TOPIC and wanted.get(r.position) == r.originator_id
        ]
        if not records:
            return 0
        register.add(c, records)
        c.executemany(
            f"DELETE FROM {table} WHERE {position_column} = {m} AND topic = {m}",
            [(r.position, REJECTED_TOPIC) for r in records],
        )
    return len(records)


def store_bytes(path: Path) -> tuple[int, int]:
    """(bytes the SQLite file uses, bytes on its free list)."""
    db = sqlite3.connect(path, timeout=30)
    try:
        page = int(db.execute("PRAGMA page_size").fetchone()[0])
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        db.close()
    return pages * page, free * page


def reclaim_sqlite(path: Path) -> tuple[int, int]:
    """Rewrites the SQLite file without its free pages; its size (bytes) before and after.

    VACUUM needs a moment without writers: a busy store raises
    ``sqlite3.OperationalError``, and the caller says so (run it again).
    """
    before, _ = store_bytes(path)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    after, _ = store_bytes(path)
    return before, after


def reclaim_postgres(engine: Any, *, full: bool = False) -> tuple[int, int]:
    """VACUUM (or VACUUM FULL) of the event and message log tables; the events' size before/after.

    Plain VACUUM marks the deleted rows' space free for new rows (the
    relation rarely shrinks); FULL rewrites the table and gives the space
    back to the file system, holding an exclusive lock meanwhile.
    """
    recorder = engine.ingestion.recorder
    datastore = recorder.datastore
    events = f'"{datastore.schema}".{recorder.events_table_name}'
    tables = [
        events,
        f'"{datastore.schema}".message_log_v1',
        f'"{datastore.schema}".message_keys_v1',
    ]
    size = f"SELECT pg_total_relation_size('{events}') AS n"
    with datastore.get_connection() as conn:
        before = int(conn.execute(size).fetchone()["n"])
        conn.commit()
        conn.autocommit = True  # VACUUM cannot run inside a transaction block
        try:
            for table in tables:
                conn.execute(f"VACUUM {'FULL ' if full else ''}{table}")
            after = int(conn.execute(size).fetchone()["n"])
        finally:
            conn.autocommit = False
    return before, after
