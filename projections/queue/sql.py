"""The queue read model's SQL, written once for SQLite and PostgreSQL.

The queue itself is a partial index: the visits present at a location, in
rank and arrival order, so ``/api/queue/{location}`` reads only the people
waiting there however many visits the table holds. Times are fixed-width UTC
text (``projections.timestamps``), so ordering and ranges on them are correct.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any, cast

from eventsourcing.persistence import Tracking

from projections.batching import SQLBatching
from projections.merges import record_merge_in
from projections.queue.view import QueueStay, QueueVisit
from projections.timestamps import from_text, to_text

__all__ = ["QUEUE_TABLES", "SQLQueueQueries", "create_statements"]

QUEUE_TABLES = ("queue_merges_v2", "queue_stays_v2", "queue_visits_v2")


def create_statements() -> list[str]:
    """DDL for the queue read model (the same text on both backends)."""
    return [
        "CREATE TABLE IF NOT EXISTS queue_visits_v2 ("
        "encounter_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, visit_number TEXT NOT NULL, "
        "priority TEXT NOT NULL, rank INTEGER NOT NULL, location TEXT NOT NULL, "
        "present INTEGER NOT NULL, entered_at TEXT, stay_seq INTEGER NOT NULL, "
        "status TEXT NOT NULL, patient_class TEXT NOT NULL DEFAULT '', "
        "seen INTEGER NOT NULL DEFAULT 0, room TEXT NOT NULL DEFAULT '', called_at TEXT, "
        "called_by TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX IF NOT EXISTS queue_visits_v2_waiting "
        "ON queue_visits_v2 (location, rank, entered_at, encounter_id) WHERE present = 1",
        "CREATE INDEX IF NOT EXISTS queue_visits_v2_seen "
        "ON queue_visits_v2 (location, called_at, encounter_id) WHERE seen = 1",
        "CREATE INDEX IF NOT EXISTS queue_visits_v2_patient ON queue_visits_v2 (patient_id)",
        "CREATE TABLE IF NOT EXISTS queue_stays_v2 ("
        "encounter_id TEXT NOT NULL, seq INTEGER NOT NULL, location TEXT NOT NULL, "
        "entered_at TEXT NOT NULL, left_at TEXT, wait_seconds DOUBLE PRECISION, "
        "left_by TEXT NOT NULL DEFAULT '', PRIMARY KEY (encounter_id, seq))",
        # Covering: a day's waits at a location are read from the index alone.
        "CREATE INDEX IF NOT EXISTS queue_stays_v2_left "
        "ON queue_stays_v2 (location, left_at, wait_seconds)",
        "CREATE INDEX IF NOT EXISTS queue_stays_v2_entered "
        "ON queue_stays_v2 (location, entered_at)",
        # Merges known so far, each followed to the end of its chain (as encounter_merges_v1):
        # with Kafka workers, B->C can be applied before A->B (another partition).
        "CREATE TABLE IF NOT EXISTS queue_merges_v2 ("
        "retired_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS queue_merges_v2_survivor ON queue_merges_v2 (survivor_id)",
    ]


class SQLQueueQueries(SQLBatching):
    """Commands and queries of QueueView over a DB-API cursor with named rows."""

    # In the order a batch writes them: a stay deleted and then saved again in
    # one batch is buffered as saved, so deletes first is what order would leave.
    _WRITES = {
        "deleted_stays": "DELETE FROM queue_stays_v2 WHERE encounter_id=? AND seq=?",
        "visits": "INSERT INTO queue_visits_v2 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (encounter_id) DO UPDATE SET patient_id=excluded.patient_id, "
        "visit_number=excluded.visit_number, priority=excluded.priority, "
        "rank=excluded.rank, location=excluded.location, present=excluded.present, "
        "entered_at=excluded.entered_at, stay_seq=excluded.stay_seq, "
        "status=excluded.status, patient_class=excluded.patient_class, seen=excluded.seen, "
        "room=excluded.room, called_at=excluded.called_at, called_by=excluded.called_by",
        "stays": "INSERT INTO queue_stays_v2 VALUES (?,?,?,?,?,?,?) "
        "ON CONFLICT (encounter_id, seq) DO UPDATE SET "
        "location=excluded.location, entered_at=excluded.entered_at, "
        "left_at=excluded.left_at, wait_seconds=excluded.wait_seconds, "
        "left_by=excluded.left_by",
    }

    def save_visit(
        self,
        visit: QueueVisit,
        stays: Sequence[QueueStay],
        deleted: Sequence[int],
        tracking: Tracking,
    ) -> None:
        encounter_id = visit.encounter_id
        with self._transaction(tracking) as c:
            self._write(
                c,
                "visits",
                (
                    encounter_id,
                    visit.patient_id,
                    visit.visit_number,
                    visit.priority,
                    visit.rank,
                    visit.location,
                    int(visit.present),
                    to_text(visit.entered_at) if visit.entered_at else None,
                    visit.stay_seq,
                    visit.status,
                    visit.patient_class,
                    int(visit.seen),
                    visit.room,
                    to_text(visit.called_at) if visit.called_at else None,
                    visit.called_by,
                ),
                encounter_id,
            )
            cache = self._batch_cache()
            buffered = self._buffered("stays") if cache is not None else None
            for seq in deleted:
                key = (encounter_id, seq)
                if buffered is not None:
                    buffered.pop(key, None)
                if cache is not None:
                    cache[("stay", *key)] = None  # gone, whatever the database holds
                self._write(c, "deleted_stays", key, key)
            for stay in stays:
                key = (encounter_id, stay.seq)
                self._write(
                    c,
                    "stays",
                    (
                        *key,
                        stay.location,
                        to_text(stay.entered_at),
                        to_text(stay.left_at) if stay.left_at else None,
                        stay.wait_seconds,
                        stay.left_by,
                    ),
                    key,
                )
                if cache is not None:
                    cache[("stay", *key)] = stay
            if cache is not None:
                cache[("visit", encounter_id)] = visit

    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write_buffered(c)  # set-based updates: the batch's buffered rows go first
            final = record_merge_in(c, self._sql, "queue_merges_v2", retired_id, survivor_id)
            if final is None:
                return  # a merge cycle: leave the visits where they are
            c.execute(
                self._sql("UPDATE queue_visits_v2 SET patient_id=? WHERE patient_id=?"),
                (final, retired_id),
            )

    def _from_batch(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        """(True, object) when this batch saved (or deleted: None) ``key``'s row."""
        cache = self._batch_cache()
        if cache is None or key not in cache:
            return False, None
        return True, cache[key]

    @contextlib.contextmanager
    def _row_reading(self) -> Iterator[Any]:
        """A cursor for one row this batch has not touched: no need to write the buffer."""
        cursor = self._batch_cursor()
        if cursor is not None:
            yield cursor
            return
        with self._reading() as c:
            yield c

    def visit(self, encounter_id: str) -> QueueVisit | None:
        found, visit = self._from_batch(("visit", encounter_id))
        if found:
            return cast(QueueVisit | None, visit)  # the batch keeps what visit rows hold
        with self._row_reading() as c:
            c.execute(
                self._sql("SELECT * FROM queue_visits_v2 WHERE encounter_id=?"), (encounter_id,)
            )
            row = c.fetchone()
        return _visit(row) if row else None

    def stay(self, encounter_id: str, seq: int) -> QueueStay | None:
        found, stay = self._from_batch(("stay", encounter_id, seq))
        if found:
            return cast(QueueStay | None, stay)  # the batch keeps what stay rows hold
        with self._row_reading() as c:
            c.execute(
                self._sql("SELECT * FROM queue_stays_v2 WHERE encounter_id=? AND seq=?"),
                (encounter_id, seq),
            )
            row = c.fetchone()
        if row is None:
            return None
        return QueueStay(
            encounter_id=row["encounter_id"],
            seq=int(row["seq"]),
            location=row["location"],
            entered_at=from_text(row["entered_at"]),
            left_at=from_text(row["left_at"]),
            wait_seconds=row["wait_seconds"],
            left_by=row["left_by"],
        )

    def queued(self, location: str) -> list[QueueVisit]:
        with self._reading() as c:
            c.execute(
                self._sql(
                    "SELECT * FROM queue_visits_v2 WHERE location=? AND present = 1 "
                    "ORDER BY rank, entered_at, encounter_id"
                ),
                (location,),
            )
            return [_visit(r) for r in c.fetchall()]

    def called(self, location: str) -> list[QueueVisit]:
        with self._reading() as c:
            c.execute(
                self._sql(
                    "SELECT * FROM queue_visits_v2 WHERE location=? AND seen = 1 "
                    "ORDER BY called_at, encounter_id"
                ),
                (location,),
            )
            return [_visit(r) for r in c.fetchall()]

    def waits_left_between(self, location: str, start: datetime, end: datetime) -> list[float]:
        with self._reading() as c:
            c.execute(
                self._sql(
                    "SELECT wait_seconds FROM queue_stays_v2 "
                    "WHERE location=? AND left_at >= ? AND left_at < ?"
                ),
                (location, to_text(start), to_text(end)),
            )
            return [float(r["wait_seconds"]) for r in c.fetchall()]

    def entries_counted(self, location: str, bounds: Sequence[datetime]) -> list[int]:
        # One pass over the day's rows in the (location, entered_at) index, counted in SQL.
        texts = [to_text(b) for b in bounds]
        sums = ", ".join(
            f"COALESCE(SUM(CASE WHEN entered_at >= ? AND entered_at < ? THEN 1 ELSE 0 END), 0) "
            f"AS h{n}"
            for n in range(len(texts) - 1)
        )
        params: list[Any] = [t for pair in pairwise(texts) for t in pair]
        with self._reading() as c:
            c.execute(
                self._sql(
                    f"SELECT {sums} FROM queue_stays_v2 "
                    "WHERE location=? AND entered_at >= ? AND entered_at < ?"
                ),
                (*params, location, texts[0], texts[-1]),
            )
            row = c.fetchone()
        return [int(row[f"h{n}"]) for n in range(len(texts) - 1)]


def _visit(row: Any) -> QueueVisit:
    return QueueVisit(
        encounter_id=row["encounter_id"],
        patient_id=row["patient_id"],
        visit_number=row["visit_number"],
        priority=row["priority"],
        rank=int(row["rank"]),
        location=row["location"],
        present=bool(row["present"]),
        entered_at=from_text(row["entered_at"]),
        stay_seq=int(row["stay_seq"]),
        status=row["status"],
        patient_class=row["patient_class"],
        seen=bool(row["seen"]),
        room=row["room"],
        called_at=from_text(row["called_at"]),
        called_by=row["called_by"],
    )
