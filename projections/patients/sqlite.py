"""The patient index in SQLite, beside the events in the same database file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteTrackingRecorder

from engine.domain.values import Identifier, PersonName
from projections.patients.view import PatientRecord, PatientView

__all__ = ["SQLitePatientView"]

_NAME_COLUMNS = ("family", "given", "middle", "suffix", "prefix", "name_use")


class SQLitePatientView(PatientView, SQLiteTrackingRecorder):
    """Tables ``patients_v1`` and ``patient_identifiers_v1`` (see README for SQL)."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS patients_v1 ("
            "patient_id TEXT PRIMARY KEY, family TEXT, given TEXT, middle TEXT, "
            "suffix TEXT, prefix TEXT, name_use TEXT, birth_date TEXT, sex TEXT, "
            "updated_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS patient_identifiers_v1 ("
            "value TEXT NOT NULL, authority TEXT NOT NULL, authority_id TEXT NOT NULL, "
            "authority_id_type TEXT NOT NULL, type_code TEXT NOT NULL, "
            "patient_id TEXT NOT NULL REFERENCES patients_v1(patient_id), "
            "PRIMARY KEY (value, authority, authority_id))",
            "CREATE INDEX IF NOT EXISTS patient_identifiers_v1_patient "
            "ON patient_identifiers_v1 (patient_id)",
        ]

    def register_patient(
        self,
        patient_id: str,
        identifiers: Sequence[Identifier],
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            c.execute(
                "INSERT INTO patients_v1 VALUES (?,?,?,?,?,?,?,?,?,?)",
                (patient_id, *_name_row(name), birth_date, sex, updated_at.isoformat()),
            )
            for identifier in identifiers:
                _insert_identifier(c, patient_id, identifier)

    def update_demographics(
        self,
        patient_id: str,
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            c.execute(
                "UPDATE patients_v1 SET family=?, given=?, middle=?, suffix=?, prefix=?, "
                "name_use=?, birth_date=?, sex=?, updated_at=? WHERE patient_id=?",
                (*_name_row(name), birth_date, sex, updated_at.isoformat(), patient_id),
            )

    def add_identifier(self, patient_id: str, identifier: Identifier, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            _insert_identifier(c, patient_id, identifier)

    def get_patient(self, patient_id: str) -> PatientRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT * FROM patients_v1 WHERE patient_id=?", (patient_id,))
            row = c.fetchone()
            if row is None:
                return None
            return _record(c, row)

    def find_by_identifier(self, value: str, authority: str | None = None) -> list[PatientRecord]:
        with self.datastore.transaction(commit=False) as c:
            if authority is None:
                c.execute(
                    "SELECT DISTINCT patient_id FROM patient_identifiers_v1 WHERE value=?",
                    (value,),
                )
            else:
                c.execute(
                    "SELECT DISTINCT patient_id FROM patient_identifiers_v1 "
                    "WHERE value=? AND (authority=? OR authority_id=?)",
                    (value, authority, authority),
                )
            ids = [r["patient_id"] for r in c.fetchall()]
            records = []
            for patient_id in ids:
                c.execute("SELECT * FROM patients_v1 WHERE patient_id=?", (patient_id,))
                row = c.fetchone()
                if row is not None:
                    records.append(_record(c, row))
            return records


def _name_row(name: PersonName) -> tuple[str, ...]:
    return (name.family, name.given, name.middle, name.suffix, name.prefix, name.use)


def _insert_identifier(c: SQLiteCursor, patient_id: str, identifier: Identifier) -> None:
    # An identifier moves to the patient that last claimed it (merges rely on this).
    c.execute(
        "INSERT INTO patient_identifiers_v1 VALUES (?,?,?,?,?,?) "
        "ON CONFLICT (value, authority, authority_id) DO UPDATE SET "
        "patient_id=excluded.patient_id, type_code=excluded.type_code, "
        "authority_id_type=excluded.authority_id_type",
        (
            identifier.value,
            identifier.authority,
            identifier.authority_id,
            identifier.authority_id_type,
            identifier.type_code,
            patient_id,
        ),
    )


def _record(c: Any, row: Any) -> PatientRecord:
    c.execute(
        "SELECT * FROM patient_identifiers_v1 WHERE patient_id=? ORDER BY rowid",
        (row["patient_id"],),
    )
    identifiers = tuple(
        Identifier(
            value=r["value"],
            authority=r["authority"],
            type_code=r["type_code"],
            authority_id=r["authority_id"],
            authority_id_type=r["authority_id_type"],
        )
        for r in c.fetchall()
    )
    return PatientRecord(
        patient_id=row["patient_id"],
        name=PersonName(**{("use" if k == "name_use" else k): row[k] or "" for k in _NAME_COLUMNS}),
        birth_date=row["birth_date"] or "",
        sex=row["sex"] or "",
        updated_at=datetime.fromisoformat(row["updated_at"]),
        identifiers=identifiers,
    )
