"""The patient history's SQL, written once for SQLite and PostgreSQL (placeholders differ)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from projections.batching import SQLBatching
from projections.history.view import HistoryEntry, HistoryEvent, MessageInfo, utc_text
from projections.merges import merged_group

__all__ = ["HISTORY_TABLES", "SQLHistoryQueries", "create_statements"]

HISTORY_TABLES = ("history_v1", "history_links_v1", "history_merges_v1", "history_messages_v1")

_ENTRY = (
    "notification_id, event_type, aggregate_id, aggregate_version, occurred_at, "
    "recorded_at, source_message_id, summary"
)


def create_statements() -> list[str]:
    """DDL for the history tables (times are UTC ISO text, so they compare as text)."""
    return [
        "CREATE TABLE IF NOT EXISTS history_v1 (notification_id BIGINT PRIMARY KEY, "
        "patient_id TEXT NOT NULL, event_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, "
        "aggregate_version BIGINT NOT NULL, occurred_at TEXT NOT NULL, "
        "recorded_at TEXT NOT NULL, source_message_id TEXT NOT NULL, summary TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS history_v1_patient ON history_v1 (patient_id, notification_id)",
        "CREATE TABLE IF NOT EXISTS history_links_v1 (aggregate_id TEXT PRIMARY KEY, "
        "patient_id TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS history_merges_v1 (retired_id TEXT PRIMARY KEY, "
        "survivor_id TEXT NOT NULL, recorded_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS history_merges_v1_survivor ON history_merges_v1 (survivor_id)",
        "CREATE TABLE IF NOT EXISTS history_messages_v1 (message_id TEXT PRIMARY KEY, "
        "control_id TEXT NOT NULL, message_type TEXT NOT NULL, "
        "sending_application TEXT NOT NULL, sending_facility TEXT NOT NULL, "
        "recorded_at TEXT NOT NULL)",
    ]


def _entry_row(entry: HistoryEntry) -> tuple[Any, ...]:
    return (
        entry.notification_id,
        entry.event_type,
        entry.aggregate_id,
        entry.aggregate_version,
        entry.occurred_at,
        entry.recorded_at,
        entry.source_message_id,
        entry.summary,
    )


class SQLHistoryQueries(SQLBatching):
    """Commands and queries of HistoryView over a DB-API cursor with named rows."""

    # Statements by kind, in the order a batch writes them: links before the
    # rows whose patient they resolve.
    _WRITES = {
        "links": "INSERT INTO history_links_v1 VALUES (?,?) ON CONFLICT (aggregate_id) "
        "DO UPDATE SET patient_id=excluded.patient_id",
        "merges": "INSERT INTO history_merges_v1 VALUES (?,?,?) ON CONFLICT (retired_id) "
        "DO UPDATE SET survivor_id=excluded.survivor_id, recorded_at=excluded.recorded_at",
        "messages": "INSERT INTO history_messages_v1 VALUES (?,?,?,?,?,?) "
        "ON CONFLICT (message_id) DO NOTHING",
        "rows": f"INSERT INTO history_v1 (patient_id, {_ENTRY}) VALUES (?,?,?,?,?,?,?,?,?)",
        "linked_rows": f"INSERT INTO history_v1 (patient_id, {_ENTRY}) SELECT "
        "COALESCE((SELECT patient_id FROM history_links_v1 WHERE aggregate_id=?), ''), "
        "?,?,?,?,?,?,?,?",
    }

    def record_message(self, message: MessageInfo, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write(
                c,
                "messages",
                (
                    message.message_id,
                    message.control_id,
                    message.message_type,
                    message.sending_application,
                    message.sending_facility,
                    message.recorded_at,
                ),
            )

    def record_event(
        self, entry: HistoryEntry, patient_id: str | None, link: bool, tracking: Tracking
    ) -> None:
        with self._transaction(tracking) as c:
            if patient_id is None:
                self._write(c, "linked_rows", (entry.aggregate_id, *_entry_row(entry)))
                return
            self._write(c, "rows", (patient_id, *_entry_row(entry)))
            if link:
                self._write(c, "links", (entry.aggregate_id, patient_id))

    def record_merge(self, entry: HistoryEntry, survivor_id: str, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write(c, "rows", (entry.aggregate_id, *_entry_row(entry)))
            self._write(c, "merges", (entry.aggregate_id, survivor_id, entry.recorded_at))

    def history(self, patient_id: str, as_of: datetime | None = None) -> list[HistoryEvent]:
        cut = utc_text(as_of) if as_of is not None else None
        with self.datastore.transaction(commit=False) as c:
            members = self._merged_members(c, patient_id, cut)
            marks = ",".join([self.placeholder] * len(members))
            params: list[Any] = list(members)
            where = f"h.patient_id IN ({marks})"
            if cut is not None:
                where += f" AND h.recorded_at <= {self.placeholder}"
                params.append(cut)
            c.execute(
                "SELECT h.*, m.message_id AS m_id, m.control_id, m.message_type, "
                "m.sending_application, m.sending_facility, m.recorded_at AS m_recorded "
                "FROM history_v1 h LEFT JOIN history_messages_v1 m "
                f"ON m.message_id = h.source_message_id WHERE {where} "
                "ORDER BY h.notification_id",
                params,
            )
            rows = c.fetchall()
        return [_event(r, patient_id) for r in rows]

    def _merged_members(self, c: Any, patient_id: str, cut: str | None) -> list[str]:
        """``patient_id`` and everyone merged into it (transitively) by ``cut``."""
        members = [patient_id]
        frontier = [patient_id]
        while frontier:
            marks = ",".join([self.placeholder] * len(frontier))
            query = (
                "SELECT retired_id, recorded_at FROM history_merges_v1 "
                f"WHERE survivor_id IN ({marks})"
            )
            c.execute(query, frontier)
            found = [
                r["retired_id"]
                for r in c.fetchall()
                if (cut is None or r["recorded_at"] <= cut) and r["retired_id"] not in members
            ]
            members.extend(found)
            frontier = found
        return members

    def known(self, patient_id: str) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql("SELECT 1 AS one FROM history_v1 WHERE patient_id=? LIMIT 1"),
                (patient_id,),
            )
            return c.fetchone() is not None

    def merged_into(self, patient_id: str) -> str:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql("SELECT survivor_id FROM history_merges_v1 WHERE retired_id=?"),
                (patient_id,),
            )
            row = c.fetchone()
            return str(row["survivor_id"]) if row else ""

    def merged_group(self, patient_id: str) -> frozenset[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql("SELECT retired_id, survivor_id FROM history_merges_v1"))
            merges = {str(r["retired_id"]): str(r["survivor_id"]) for r in c.fetchall()}
        return merged_group(patient_id, merges)


def _event(row: Any, patient_id: str) -> HistoryEvent:
    entry = HistoryEntry(
        notification_id=int(row["notification_id"]),
        event_type=row["event_type"],
        aggregate_id=row["aggregate_id"],
        aggregate_version=int(row["aggregate_version"]),
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        source_message_id=row["source_message_id"],
        summary=row["summary"],
    )
    message = None
    if row["m_id"] is not None:
        message = MessageInfo(
            row["m_id"],
            row["control_id"],
            row["message_type"],
            row["sending_application"],
            row["sending_facility"],
            row["m_recorded"],
        )
    owner = row["patient_id"]
    return HistoryEvent(entry, owner, "" if owner == patient_id else owner, message)
