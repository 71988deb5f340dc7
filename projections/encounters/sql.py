"""The encounter read model's SQL, written once for SQLite and PostgreSQL.

Only the parameter placeholder and the recorder base differ between the
backends (``sqlite.py``, ``postgres.py``). Times are fixed-width UTC text
(``projections.timestamps``), so ordering and ranges on them are correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from eventsourcing.persistence import Tracking

from engine.domain.values import Identifier, Location
from projections.batching import SQLBatching
from projections.encounters.details import encounter_details_json, encounter_details_of
from projections.encounters.view import EncounterRecord, LocationStay
from projections.merges import record_merge_in
from projections.timestamps import from_text, to_text

__all__ = ["DETAILS_UPGRADE", "ENCOUNTER_TABLES", "SQLEncounterQueries", "create_statements"]

# Added with PV1's participants, service and discharge disposition (JSON, details.py).
DETAILS_UPGRADE = "ALTER TABLE encounters_v1 ADD COLUMN details TEXT NOT NULL DEFAULT ''"

ENCOUNTER_TABLES = ("encounter_locations_v1", "encounter_merges_v1", "encounters_v1")

_ENCOUNTER_COLUMNS = (
    "encounter_id",
    "patient_id",
    "subject_id",
    "visit_number",
    "visit_authority",
    "visit_authority_id",
    "visit_authority_id_type",
    "visit_type_code",
    "status",
    "patient_class",
    "point_of_care",
    "room",
    "bed",
    "facility",
    "prior_point_of_care",
    "prior_room",
    "prior_bed",
    "prior_facility",
    "admission_type",
    "priority",
    "admitted_at",
    "arrived_at",
    "discharged_at",
    "updated_at",
    "location_seq",
    "details",
)


def create_statements() -> list[str]:
    """DDL for the encounter read model (the same text on both backends)."""
    text_columns = ", ".join(
        f"{c} TEXT NOT NULL DEFAULT ''"
        for c in _ENCOUNTER_COLUMNS[1:]
        if c not in ("admitted_at", "arrived_at", "discharged_at", "location_seq")
    )
    return [
        "CREATE TABLE IF NOT EXISTS encounters_v1 (encounter_id TEXT PRIMARY KEY, "
        f"{text_columns}, admitted_at TEXT, arrived_at TEXT, discharged_at TEXT, "
        "location_seq INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS encounters_v1_subject ON encounters_v1 (subject_id)",
        "CREATE INDEX IF NOT EXISTS encounters_v1_patient ON encounters_v1 (patient_id)",
        # Encounter?identifier= (added in place: IF NOT EXISTS runs at every start)
        "CREATE INDEX IF NOT EXISTS encounters_v1_visit_number ON encounters_v1 (visit_number)",
        "CREATE TABLE IF NOT EXISTS encounter_locations_v1 ("
        "encounter_id TEXT NOT NULL, seq INTEGER NOT NULL, point_of_care TEXT NOT NULL, "
        "room TEXT NOT NULL, bed TEXT NOT NULL, facility TEXT NOT NULL, "
        "started_at TEXT NOT NULL, ended_at TEXT, cause TEXT NOT NULL, "
        "cancelled INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (encounter_id, seq))",
        "CREATE TABLE IF NOT EXISTS encounter_merges_v1 ("
        "retired_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS encounter_merges_v1_survivor "
        "ON encounter_merges_v1 (survivor_id)",
    ]


class SQLEncounterQueries(SQLBatching):
    """Commands and queries of EncounterView over a DB-API cursor with named rows."""

    _WRITES = {
        # subject_id (third) goes through the merges known so far, in the same statement.
        "encounters": f"INSERT INTO encounters_v1 ({', '.join(_ENCOUNTER_COLUMNS)}) VALUES (?,?,"
        "COALESCE((SELECT survivor_id FROM encounter_merges_v1 WHERE retired_id=?),?),"
        f"{','.join('?' * (len(_ENCOUNTER_COLUMNS) - 3))}) "
        "ON CONFLICT (encounter_id) DO UPDATE SET "
        f"{', '.join(f'{c}=excluded.{c}' for c in _ENCOUNTER_COLUMNS[1:])}",
        "locations": "INSERT INTO encounter_locations_v1 VALUES (?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (encounter_id, seq) DO UPDATE SET "
        "point_of_care=excluded.point_of_care, room=excluded.room, "
        "bed=excluded.bed, facility=excluded.facility, "
        "started_at=excluded.started_at, ended_at=excluded.ended_at, "
        "cause=excluded.cause, cancelled=excluded.cancelled",
    }

    def save_encounter(
        self, record: EncounterRecord, stays: Sequence[LocationStay], tracking: Tracking
    ) -> None:
        row = _encounter_row(record)
        encounter_id = record.encounter_id
        with self._transaction(tracking) as c:
            # Full-row upserts: within a batch the last row per key is the one written.
            self._write(c, "encounters", (*row[:3], row[2], *row[3:]), encounter_id)
            for stay in stays:
                self._write(
                    c,
                    "locations",
                    (
                        encounter_id,
                        stay.seq,
                        *_location_row(stay.location),
                        to_text(stay.started_at),
                        to_text(stay.ended_at) if stay.ended_at else None,
                        stay.cause,
                        int(stay.cancelled),
                    ),
                    (encounter_id, stay.seq),
                )
            cache = self._batch_cache()
            if cache is not None:
                cache[encounter_id] = (record, stays)  # encounter() merges them if asked

    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write_buffered(c)  # set-based updates: the batch's buffered rows go first
            final = record_merge_in(c, self._sql, "encounter_merges_v1", retired_id, survivor_id)
            if final is None:
                return  # a merge cycle: leave the visits where they are
            c.execute(
                self._sql("UPDATE encounters_v1 SET subject_id=? WHERE subject_id=?"),
                (final, retired_id),
            )

    def _survivor(self, c: Any, patient_id: str) -> str:
        c.execute(
            self._sql("SELECT survivor_id FROM encounter_merges_v1 WHERE retired_id=?"),
            (patient_id,),
        )
        row = c.fetchone()
        return str(row["survivor_id"]) if row else patient_id

    def survivor_of(self, patient_id: str) -> str:
        with self._reading() as c:
            return self._survivor(c, patient_id)

    def encounter(self, encounter_id: str) -> EncounterRecord | None:
        cache = self._batch_cache()
        if cache is not None:
            saved = cache.get(encounter_id)
            if saved is not None:
                # Saved in this batch, its rows still buffered: what reading them
                # back would give (the subject is resolved through the merges
                # when they are written, as it is in the database).
                record, stays = saved
                places = {s.seq: s for s in record.locations}
                places.update((s.seq, s) for s in stays)
                found: EncounterRecord = replace(
                    record, locations=tuple(places[k] for k in sorted(places))
                )
                return found
            # Not saved in this batch: no buffered row is this visit's, so the
            # database's rows are current for it and the buffer can wait.
            c = self._batch_cursor()
            c.execute(self._sql(_ONE_ENCOUNTER), (encounter_id,))
            rows = c.fetchall()
        else:
            # One statement for the visit and its places: this runs before most writes.
            with self._reading() as c:
                c.execute(self._sql(_ONE_ENCOUNTER), (encounter_id,))
                rows = c.fetchall()
        if not rows:
            return None
        stays = tuple(_stay(r, "l_") for r in rows if r["l_seq"] is not None)
        return _record_of(rows[0], stays)

    def visits(self, patient_id: str, statuses: Sequence[str] = ()) -> list[EncounterRecord]:
        where = "(subject_id=? OR patient_id=?)"
        params: list[Any] = [patient_id, patient_id]
        if statuses:
            where += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        with self._reading() as c:
            c.execute(
                self._sql(
                    f"SELECT * FROM encounters_v1 WHERE {where} "
                    "ORDER BY admitted_at DESC, encounter_id"
                ),
                params,
            )
            rows = c.fetchall()
            return [self._record(c, r) for r in rows]

    def visits_numbered(self, visit_number: str) -> list[EncounterRecord]:
        with self._reading() as c:
            c.execute(
                self._sql(
                    "SELECT * FROM encounters_v1 WHERE visit_number=? "
                    "ORDER BY admitted_at DESC, encounter_id"
                ),
                (visit_number,),
            )
            return [self._record(c, r) for r in c.fetchall()]

    def _record(self, c: Any, row: Any) -> EncounterRecord:
        c.execute(
            self._sql("SELECT * FROM encounter_locations_v1 WHERE encounter_id=? ORDER BY seq"),
            (row["encounter_id"],),
        )
        return _record_of(row, tuple(_stay(s, "") for s in c.fetchall()))


_STAY_COLUMNS = (
    "seq",
    "point_of_care",
    "room",
    "bed",
    "facility",
    "started_at",
    "ended_at",
    "cause",
    "cancelled",
)
_ONE_ENCOUNTER = (
    "SELECT e.*, "
    + ", ".join(f"l.{c} AS l_{c}" for c in _STAY_COLUMNS)
    + " FROM encounters_v1 e LEFT JOIN encounter_locations_v1 l "
    "ON l.encounter_id = e.encounter_id WHERE e.encounter_id=? ORDER BY l.seq"
)


def _stay(row: Any, prefix: str) -> LocationStay:
    return LocationStay(
        seq=int(row[f"{prefix}seq"]),
        location=_location(row, prefix),
        started_at=from_text(row[f"{prefix}started_at"]),
        ended_at=from_text(row[f"{prefix}ended_at"]),
        cause=row[f"{prefix}cause"],
        cancelled=bool(row[f"{prefix}cancelled"]),
    )


def _record_of(row: Any, stays: tuple[LocationStay, ...]) -> EncounterRecord:
    visit = None
    if row["visit_number"]:
        visit = Identifier(
            value=row["visit_number"],
            authority=row["visit_authority"],
            type_code=row["visit_type_code"],
            authority_id=row["visit_authority_id"],
            authority_id_type=row["visit_authority_id_type"],
        )
    return EncounterRecord(
        encounter_id=row["encounter_id"],
        patient_id=row["patient_id"],
        subject_id=row["subject_id"],
        visit_number=visit,
        status=row["status"],
        patient_class=row["patient_class"],
        location=_location(row, ""),
        prior_location=_location(row, "prior_"),
        admission_type=row["admission_type"],
        priority=row["priority"],
        admitted_at=from_text(row["admitted_at"]),
        arrived_at=from_text(row["arrived_at"]),
        discharged_at=from_text(row["discharged_at"]),
        updated_at=from_text(row["updated_at"]),
        location_seq=int(row["location_seq"]),
        locations=stays,
        details=encounter_details_of(row["details"]),
    )


def _location_row(location: Location) -> tuple[str, str, str, str]:
    return (location.point_of_care, location.room, location.bed, location.facility)


def _location(row: Any, prefix: str) -> Location:
    return Location(
        point_of_care=row[f"{prefix}point_of_care"],
        room=row[f"{prefix}room"],
        bed=row[f"{prefix}bed"],
        facility=row[f"{prefix}facility"],
    )


def _encounter_row(r: EncounterRecord) -> tuple[Any, ...]:
    v = r.visit_number or Identifier("")
    return (
        r.encounter_id,
        r.patient_id,
        r.subject_id,
        v.value,
        v.authority,
        v.authority_id,
        v.authority_id_type,
        v.type_code,
        r.status,
        r.patient_class,
        *_location_row(r.location),
        *_location_row(r.prior_location),
        r.admission_type,
        r.priority,
        to_text(r.admitted_at) if r.admitted_at else None,
        to_text(r.arrived_at) if r.arrived_at else None,
        to_text(r.discharged_at) if r.discharged_at else None,
        to_text(r.updated_at),
        r.location_seq,
        encounter_details_json(r.details),
    )
