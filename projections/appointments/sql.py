"""The appointments read model's SQL, written once for SQLite and PostgreSQL.

Times are fixed-width UTC text (``projections.timestamps``), so order and
ranges on them are correct. A location's expected list is an index range
(location, start_at); a patient's appointments an index on patient_id.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from projections.appointments.view import OPEN, AppointmentCriteria, AppointmentRecord
from projections.batching import SQLBatching
from projections.merges import record_merge_in
from projections.patients.search import DateRange
from projections.timestamps import from_text, to_text

__all__ = ["APPOINTMENT_TABLES", "SQLAppointmentQueries", "create_statements"]

APPOINTMENT_TABLES = ("appointment_merges_v1", "appointments_v1")
_COLUMNS = (
    "appointment_id, patient_id, placer_id, filler_id, status, filler_status, start_at, "
    "end_at, start_day, duration_minutes, location, location_text, details, encounter_id, "
    "arrived_at, booked_at, updated_at, version"
)


def create_statements() -> list[str]:
    """DDL for the appointments read model (the same text on both backends)."""
    return [
        "CREATE TABLE IF NOT EXISTS appointments_v1 ("
        "appointment_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, placer_id TEXT NOT NULL, "
        "filler_id TEXT NOT NULL, status TEXT NOT NULL, filler_status TEXT NOT NULL, "
        "start_at TEXT NOT NULL, end_at TEXT, start_day TEXT NOT NULL, "
        "duration_minutes INTEGER, location TEXT NOT NULL, location_text TEXT NOT NULL, "
        "details TEXT NOT NULL, encounter_id TEXT NOT NULL, arrived_at TEXT, "
        "booked_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS appointments_v1_location "
        "ON appointments_v1 (location, start_at)",
        "CREATE INDEX IF NOT EXISTS appointments_v1_patient "
        "ON appointments_v1 (patient_id, start_at)",
        "CREATE INDEX IF NOT EXISTS appointments_v1_start ON appointments_v1 (start_at)",
        "CREATE INDEX IF NOT EXISTS appointments_v1_encounter "
        "ON appointments_v1 (encounter_id) WHERE encounter_id <> ''",
        "CREATE TABLE IF NOT EXISTS appointment_merges_v1 ("
        "retired_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS appointment_merges_v1_survivor "
        "ON appointment_merges_v1 (survivor_id)",
    ]


def _day_condition(wanted: DateRange) -> tuple[str, tuple[str, ...]]:
    """SQL and parameters for one FHIR date criterion on ``start_day`` (ISO date text)."""
    low, high = wanted.low, wanted.high
    return {
        "eq": ("(start_day >= ? AND start_day < ?)", (low, high)),
        "ne": ("(start_day <> '' AND NOT (start_day >= ? AND start_day < ?))", (low, high)),
        "lt": ("(start_day <> '' AND start_day < ?)", (low,)),
        "le": ("(start_day <> '' AND start_day < ?)", (high,)),
        "gt": ("start_day >= ?", (high,)),
        "ge": ("start_day >= ?", (low,)),
    }[wanted.prefix]


class SQLAppointmentQueries(SQLBatching):
    """Commands and queries of AppointmentView over a DB-API cursor with named rows."""

    _WRITES = {
        "appointments": f"INSERT INTO appointments_v1 ({_COLUMNS}) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (appointment_id) DO UPDATE SET patient_id=excluded.patient_id, "
        "placer_id=excluded.placer_id, filler_id=excluded.filler_id, "
        "status=excluded.status, filler_status=excluded.filler_status, "
        "start_at=excluded.start_at, end_at=excluded.end_at, start_day=excluded.start_day, "
        "duration_minutes=excluded.duration_minutes, location=excluded.location, "
        "location_text=excluded.location_text, details=excluded.details, "
        "encounter_id=excluded.encounter_id, arrived_at=excluded.arrived_at, "
        "booked_at=excluded.booked_at, updated_at=excluded.updated_at, "
        "version=excluded.version",
    }

    def save(self, record: AppointmentRecord, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write(c, "appointments", _row(record), record.appointment_id)

    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write_buffered(c)  # set-based update: the batch's buffered rows go first
            final = record_merge_in(c, self._sql, "appointment_merges_v1", retired_id, survivor_id)
            if final is None:
                return  # a merge cycle: leave the appointments where they are
            c.execute(
                self._sql("UPDATE appointments_v1 SET patient_id=? WHERE patient_id=?"),
                (final, retired_id),
            )

    def _select(self, where: str, params: tuple[Any, ...], tail: str = "") -> list[Any]:
        with self._reading() as c:
            c.execute(self._sql(f"SELECT * FROM appointments_v1 WHERE {where} {tail}"), params)
            return [_record(r) for r in c.fetchall()]

    def appointment(self, appointment_id: str) -> AppointmentRecord | None:
        found = self._select("appointment_id=?", (appointment_id,))
        return found[0] if found else None

    def open_for(self, patient_id: str, location: str) -> list[AppointmentRecord]:
        marks = ",".join("?" * len(OPEN))
        return self._select(
            f"patient_id=? AND location=? AND (status IN ({marks}) "
            "OR (status = 'arrived' AND encounter_id = ''))",
            (patient_id, location, *OPEN),
            "ORDER BY start_at, appointment_id",
        )

    def for_encounter(self, encounter_id: str) -> list[AppointmentRecord]:
        return self._select("encounter_id=? AND encounter_id <> ''", (encounter_id,))

    def expected(self, location: str, start: Any, end: Any) -> list[AppointmentRecord]:
        return self._select(
            "location=? AND start_at >= ? AND start_at < ? AND status <> 'cancelled'",
            (location, to_text(start), to_text(end)),
            "ORDER BY start_at, appointment_id",
        )

    def search(self, criteria: AppointmentCriteria, limit: int) -> list[AppointmentRecord]:
        where = ["1=1"]
        params: list[Any] = []
        for column, values in (
            ("patient_id", criteria.patients),
            ("status", criteria.statuses),
            ("location", criteria.locations),
        ):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        for wanted in criteria.dates:
            condition, values = _day_condition(wanted)
            where.append(condition)
            params.extend(values)
        if criteria.after is not None:
            where.append("(start_at > ? OR (start_at = ? AND appointment_id > ?))")
            start, last = criteria.after
            params.extend((start, start, last))
        if criteria.before is not None:  # the rows just before: read backward, then turned
            where.append("(start_at < ? OR (start_at = ? AND appointment_id < ?))")
            start, first = criteria.before
            params.extend((start, start, first))
            rows = self._select(
                " AND ".join(where),
                tuple(params),
                f"ORDER BY start_at DESC, appointment_id DESC LIMIT {int(limit)}",
            )
            return rows[::-1]
        return self._select(
            " AND ".join(where),
            tuple(params),
            f"ORDER BY start_at, appointment_id LIMIT {int(limit)}",
        )


def _row(r: AppointmentRecord) -> tuple[Any, ...]:
    return (
        r.appointment_id,
        r.patient_id,
        r.placer_id,
        r.filler_id,
        r.status,
        r.filler_status,
        to_text(r.start) if r.start else "",
        to_text(r.end) if r.end else None,
        r.start_day,
        r.duration_minutes,
        r.location,
        r.location_text,
        r.details,
        r.encounter_id,
        to_text(r.arrived_at) if r.arrived_at else None,
        to_text(r.booked_at),
        to_text(r.updated_at),
        r.version,
    )


def _record(row: Any) -> AppointmentRecord:
    minutes = row["duration_minutes"]
    return AppointmentRecord(
        appointment_id=row["appointment_id"],
        patient_id=row["patient_id"],
        placer_id=row["placer_id"],
        filler_id=row["filler_id"],
        status=row["status"],
        filler_status=row["filler_status"],
        start=from_text(row["start_at"]),
        end=from_text(row["end_at"]),
        start_day=row["start_day"],
        duration_minutes=None if minutes is None else int(minutes),
        location=row["location"],
        location_text=row["location_text"],
        details=row["details"],
        encounter_id=row["encounter_id"],
        arrived_at=from_text(row["arrived_at"]),
        booked_at=from_text(row["booked_at"]),
        updated_at=from_text(row["updated_at"]),
        version=int(row["version"]),
    )
