"""The message log's SQL, written once for SQLite and PostgreSQL.

Every filter of the console is an index: time (``received_at``), type, sender,
ACK code and control id each lead an index with the time after them, and the
business keys live in ``message_keys_v1`` keyed by (kind, value). The error
queue reads a partial index of rejected entries not reprocessed yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from projections.batching import SQLBatching
from projections.messages.view import LogEntry, LogFilter
from projections.timestamps import from_text, to_text

__all__ = ["MESSAGE_TABLES", "SQLMessageLogQueries", "create_statements"]

MESSAGE_TABLES = ("message_keys_v1", "message_log_v1")
_PENDING = "accepted = 0 AND reprocessed_as = '' AND reprocess_of = ''"
"""The error queue: refused originals no resubmission has got accepted yet."""


def create_statements() -> list[str]:
    """DDL for the message log (the same text on both backends)."""
    return [
        "CREATE TABLE IF NOT EXISTS message_log_v1 ("
        "entry_id TEXT PRIMARY KEY, position BIGINT NOT NULL, received_at TEXT NOT NULL, "
        "accepted INTEGER NOT NULL, ack_code TEXT NOT NULL, message_type TEXT NOT NULL, "
        "sender TEXT NOT NULL, facility TEXT NOT NULL, control_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, cause TEXT NOT NULL, reprocess_of TEXT NOT NULL, "
        "reprocessed_as TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX IF NOT EXISTS message_log_v1_time ON message_log_v1 (received_at)",
        "CREATE INDEX IF NOT EXISTS message_log_v1_type "
        "ON message_log_v1 (message_type, received_at)",
        "CREATE INDEX IF NOT EXISTS message_log_v1_sender ON message_log_v1 (sender, received_at)",
        "CREATE INDEX IF NOT EXISTS message_log_v1_ack ON message_log_v1 (ack_code, received_at)",
        "CREATE INDEX IF NOT EXISTS message_log_v1_control ON message_log_v1 (control_id)",
        "CREATE INDEX IF NOT EXISTS message_log_v1_queue "
        f"ON message_log_v1 (cause, received_at) WHERE {_PENDING}",
        "CREATE TABLE IF NOT EXISTS message_keys_v1 ("
        "kind TEXT NOT NULL, value TEXT NOT NULL, entry_id TEXT NOT NULL, "
        "received_at TEXT NOT NULL, PRIMARY KEY (kind, value, entry_id))",
        "CREATE INDEX IF NOT EXISTS message_keys_v1_entry ON message_keys_v1 (entry_id)",
        "CREATE INDEX IF NOT EXISTS message_keys_v1_time "
        "ON message_keys_v1 (kind, value, received_at)",
    ]


class SQLMessageLogQueries(SQLBatching):
    """Commands and queries of MessageLogView over a DB-API cursor with named rows."""

    _WRITES = {
        "entries": "INSERT INTO message_log_v1 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (entry_id) DO NOTHING",
        "keys": "INSERT INTO message_keys_v1 VALUES (?,?,?,?) "
        "ON CONFLICT (kind, value, entry_id) DO NOTHING",
    }

    def add_entry(
        self, entry: LogEntry, keys: Sequence[tuple[str, str]], tracking: Tracking
    ) -> None:
        at = to_text(entry.received_at)
        with self._transaction(tracking) as c:
            self._write(
                c,
                "entries",
                (
                    entry.entry_id,
                    entry.position,
                    at,
                    int(entry.accepted),
                    entry.ack_code,
                    entry.message_type,
                    entry.sender,
                    entry.facility,
                    entry.control_id,
                    entry.channel,
                    entry.cause,
                    entry.reprocess_of,
                    "",
                ),
            )
            for kind, value in keys:
                self._write(c, "keys", (kind, value, entry.entry_id, at))
            if entry.reprocess_of and entry.accepted:
                self._write_buffered(c)
                c.execute(
                    self._sql("UPDATE message_log_v1 SET reprocessed_as=? WHERE entry_id=?"),
                    (entry.entry_id, entry.reprocess_of),
                )

    def entry(self, entry_id: str) -> LogEntry | None:
        with self._reading() as c:
            c.execute(self._sql("SELECT * FROM message_log_v1 WHERE entry_id=?"), (entry_id,))
            row = c.fetchone()
        return _entry(row) if row else None

    def search(self, query: LogFilter) -> list[LogEntry]:
        where: list[str] = []
        params: list[Any] = []
        table = "message_log_v1 m"
        if query.key_kind and query.key_value:
            table = "message_keys_v1 k JOIN message_log_v1 m ON m.entry_id = k.entry_id"
            where += ["k.kind=?", "k.value=?"]
            params += [query.key_kind, query.key_value]
        if query.since is not None:
            where.append("m.received_at >= ?")
            params.append(to_text(query.since))
        if query.until is not None:
            where.append("m.received_at < ?")
            params.append(to_text(query.until))
        if query.message_type:
            if "^" in query.message_type:
                where.append("m.message_type=?")
                params.append(query.message_type)
            else:  # ADT: every trigger, still a range of the type index
                where += ["m.message_type >= ?", "m.message_type < ?"]
                params += [query.message_type + "^", query.message_type + "_"]
        for column, value in (
            ("sender", query.sender),
            ("ack_code", query.ack_code),
            ("control_id", query.control_id),
            ("cause", query.cause),
        ):
            if value:
                where.append(f"m.{column}=?")
                params.append(value)
        if query.pending:
            where.append(
                _PENDING.replace("accepted", "m.accepted").replace("reprocess", "m.reprocess")
            )
        if query.accepted is not None:
            where.append("m.accepted=?")
            params.append(int(query.accepted))
        sql = f"SELECT m.* FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.received_at DESC, m.position DESC LIMIT ?"
        params.append(max(1, min(query.limit, 1000)))
        with self._reading() as c:
            c.execute(self._sql(sql), params)
            return [_entry(r) for r in c.fetchall()]

    def causes(self) -> list[tuple[str, int]]:
        with self._reading() as c:
            c.execute(
                "SELECT cause, COUNT(*) AS n FROM message_log_v1 "
                f"WHERE {_PENDING} GROUP BY cause ORDER BY n DESC, cause"
            )
            return [(r["cause"], int(r["n"])) for r in c.fetchall()]

    def rejected_before(self, when: datetime, limit: int = 1000) -> list[tuple[str, int]]:
        with self._reading() as c:
            c.execute(
                self._sql(
                    "SELECT entry_id, position FROM message_log_v1 "
                    "WHERE received_at < ? AND accepted = 0 ORDER BY received_at LIMIT ?"
                ),
                (to_text(when), limit),
            )
            return [(r["entry_id"], int(r["position"])) for r in c.fetchall()]

    def forget_before(self, when: datetime) -> int:
        at = to_text(when)
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self._sql("SELECT COUNT(*) AS n FROM message_log_v1 WHERE received_at < ?"), (at,)
            )
            gone = int(c.fetchone()["n"])
            c.execute(self._sql("DELETE FROM message_keys_v1 WHERE received_at < ?"), (at,))
            c.execute(self._sql("DELETE FROM message_log_v1 WHERE received_at < ?"), (at,))
            return gone


def _entry(row: Any) -> LogEntry:
    received = from_text(row["received_at"])
    assert received is not None  # NOT NULL column
    return LogEntry(
        entry_id=row["entry_id"],
        position=int(row["position"]),
        received_at=received,
        accepted=bool(row["accepted"]),
        ack_code=row["ack_code"],
        message_type=row["message_type"],
        sender=row["sender"],
        facility=row["facility"],
        control_id=row["control_id"],
        channel=row["channel"],
        cause=row["cause"],
        reprocess_of=row["reprocess_of"],
        reprocessed_as=row["reprocessed_as"],
    )
