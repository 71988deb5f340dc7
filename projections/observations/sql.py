"""The observation read model's SQL, written once for SQLite and PostgreSQL.

``observation_reports_v1`` has one row per order (OBR), ``observations_v1``
one row per OBX of it, replaced in place by corrections. ``value_numeric`` is
exact decimal text (CAST it to compare); ``value_json`` keeps every OBX-5
repetition. ``observation_id`` (the FHIR id, indexed, for reads by id) was
added in place: see ``upgrade``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Tracking

from engine.domain.values import Coded, ObservationValue
from projections.batching import SQLBatching
from projections.observations.view import (
    ObservationRow,
    ReportRecord,
    observation_key,
    observation_resource_id,
    typed_value,
)

__all__ = ["OBSERVATION_TABLES", "SQLObservationQueries", "create_statements"]

OBSERVATION_TABLES = ("observations_v1", "observation_reports_v1", "observation_merges_v1")


def create_statements() -> list[str]:
    """DDL for the observation tables (the same on both backends)."""
    return [
        "CREATE TABLE IF NOT EXISTS observation_reports_v1 ("
        "report_id TEXT PRIMARY KEY, order_number TEXT NOT NULL, patient_id TEXT NOT NULL, "
        "encounter_id TEXT NOT NULL, service_code TEXT NOT NULL, service_text TEXT NOT NULL, "
        "service_system TEXT NOT NULL, status TEXT NOT NULL, observed_at TEXT, "
        "updated_at TEXT NOT NULL, source_message_id TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS observation_reports_v1_patient "
        "ON observation_reports_v1 (patient_id)",
        "CREATE TABLE IF NOT EXISTS observations_v1 ("
        "report_id TEXT NOT NULL REFERENCES observation_reports_v1(report_id), "
        "code TEXT NOT NULL, code_system TEXT NOT NULL, set_id TEXT NOT NULL, "
        "ordinal INTEGER NOT NULL, code_text TEXT NOT NULL, value_type TEXT NOT NULL, "
        "value TEXT NOT NULL, value_json TEXT NOT NULL, value_numeric TEXT, "
        "comparator TEXT NOT NULL, units TEXT NOT NULL, reference_range TEXT NOT NULL, "
        "abnormal_flags TEXT NOT NULL, status TEXT NOT NULL, observed_at TEXT, "
        "updated_at TEXT NOT NULL, source_message_id TEXT NOT NULL, "
        "value_code TEXT NOT NULL, value_code_text TEXT NOT NULL, "
        "value_code_system TEXT NOT NULL, sn_num1 TEXT, sn_separator TEXT NOT NULL, "
        "sn_num2 TEXT, "
        "revision INTEGER NOT NULL, observation_id TEXT, "
        "PRIMARY KEY (report_id, code, code_system, set_id))",
        "CREATE INDEX IF NOT EXISTS observations_v1_code ON observations_v1 (code)",
        "CREATE TABLE IF NOT EXISTS observation_merges_v1 ("
        "retired_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL)",
    ]


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _values(o: ObservationValue, updated_at: datetime, source_message_id: str) -> tuple[Any, ...]:
    """The columns after the key and ordinal, in table order."""
    typed = typed_value(o.value_type, o.values)
    coded = typed.coded or Coded()
    return (
        o.code.text,
        o.value_type,
        o.values[0] if o.values else "",
        json.dumps(list(o.values)),
        None if o.numeric is None else str(o.numeric),
        o.comparator,
        o.units,
        o.reference_range,
        "~".join(o.abnormal_flags),
        o.status,
        _iso(o.observed_at),
        updated_at.isoformat(),
        source_message_id,
        coded.code,
        coded.text,
        coded.system,
        _text(typed.sn_num1),
        typed.sn_separator,
        _text(typed.sn_num2),
    )


_VALUE_COLUMNS = (
    "code_text", "value_type", "value", "value_json", "value_numeric", "comparator", "units",
    "reference_range", "abnormal_flags", "status", "observed_at", "updated_at",
    "source_message_id", "value_code", "value_code_text", "value_code_system", "sn_num1",
    "sn_separator", "sn_num2",
)  # fmt: skip
_UPSERT = (
    "INSERT INTO observations_v1 (report_id, code, code_system, set_id, ordinal, "
    f"{', '.join(_VALUE_COLUMNS)}, revision, observation_id) VALUES (?,?,?,?,"
    "(SELECT COALESCE(MAX(ordinal), 0) + 1 FROM observations_v1 WHERE report_id=?),"
    f"{','.join('?' * len(_VALUE_COLUMNS))},0,?) "
    "ON CONFLICT (report_id, code, code_system, set_id) DO UPDATE SET "
    + ", ".join(f"{col}=excluded.{col}" for col in _VALUE_COLUMNS)
    + ", revision=observations_v1.revision + 1"
)


_SELECT = (
    "SELECT r.report_id, r.order_number, r.patient_id, r.encounter_id, "
    "r.service_code, r.service_text, r.service_system, "
    "r.status AS report_status, r.observed_at AS report_observed_at, "
    "r.updated_at AS report_updated_at, r.source_message_id AS report_source, o.* "
    "FROM observations_v1 o JOIN observation_reports_v1 r USING (report_id)"
)


class SQLObservationQueries(SQLBatching):
    """Commands and queries of ObservationView over a DB-API cursor with named rows."""

    def has_id_column(self, c: Any) -> bool:
        """Whether ``observations_v1`` has ``observation_id`` (tables made before it do not)."""
        raise NotImplementedError

    def upgrade(self) -> None:
        """Adds ``observation_id`` to tables made before it, fills it in, and indexes it.

        The id derives from columns every row has, so old rows get it here, at
        start, without a replay; a row written since has it already (the
        check then finds nothing to fill, through the index).
        """
        with self.datastore.transaction(commit=True) as c:
            if not self.has_id_column(c):
                c.execute("ALTER TABLE observations_v1 ADD COLUMN observation_id TEXT")
            c.execute(
                "SELECT report_id, code, code_system, set_id FROM observations_v1 "
                "WHERE observation_id IS NULL"
            )
            missing = [
                (
                    observation_resource_id(
                        r["report_id"], (r["code"], r["code_system"], r["set_id"])
                    ),
                    r["report_id"],
                    r["code"],
                    r["code_system"],
                    r["set_id"],
                )
                for r in c.fetchall()
            ]
            for values in missing:
                c.execute(
                    self._sql(
                        "UPDATE observations_v1 SET observation_id=? WHERE report_id=? "
                        "AND code=? AND code_system=? AND set_id=?"
                    ),
                    values,
                )
            c.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS observations_v1_id "
                "ON observations_v1 (observation_id)"
            )

    # In the order a batch writes them: reports before their observations, a
    # report's insert before its updates; rows of one kind keep their order.
    _WRITES = {
        "reports": "INSERT INTO observation_reports_v1 VALUES (?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (report_id) DO NOTHING",
        "report_updates": "UPDATE observation_reports_v1 SET status=?, updated_at=?, "
        "source_message_id=? WHERE report_id=?",
        "observations": _UPSERT,
        "merges": "INSERT INTO observation_merges_v1 VALUES (?,?) "
        "ON CONFLICT (retired_id) DO UPDATE SET survivor_id=excluded.survivor_id",
    }

    def add_report(
        self,
        report: ReportRecord,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
        tracking: Tracking,
    ) -> None:
        with self._transaction(tracking) as c:
            self._write(
                c,
                "reports",
                (
                    report.report_id,
                    report.order_number,
                    report.patient_id,
                    report.encounter_id,
                    report.service.code,
                    report.service.text,
                    report.service.system,
                    report.status,
                    _iso(report.observed_at),
                    updated_at.isoformat(),
                    source_message_id,
                ),
            )
            self._put(c, report.report_id, observations, updated_at, source_message_id)

    def update_report(
        self,
        report_id: str,
        status: str,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
        tracking: Tracking,
    ) -> None:
        with self._transaction(tracking) as c:
            self._write(
                c,
                "report_updates",
                (status, updated_at.isoformat(), source_message_id, report_id),
            )
            self._put(c, report_id, observations, updated_at, source_message_id)

    def _put(
        self,
        c: Any,
        report_id: str,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
    ) -> None:
        # One upsert per OBX: a new one goes after the report's others (ordinal), a
        # correction replaces the row with its key and keeps its place. Their order
        # matters (ordinal, revision), so they are never keyed.
        for o in observations:
            self._write(
                c,
                "observations",
                (
                    report_id,
                    o.code.code,
                    o.code.system,
                    o.set_id,
                    report_id,
                    *_values(o, updated_at, source_message_id),
                    observation_resource_id(report_id, observation_key(o)),
                ),
            )

    def record_merge(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self._transaction(tracking) as c:
            self._write(c, "merges", (retired_id, survivor_id), retired_id)

    def observations_of(self, patient_ids: Iterable[str]) -> list[ObservationRow]:
        rows = self._of_patients(
            f"{_SELECT} WHERE r.patient_id IN ({{}}) ORDER BY r.order_number, r.report_id, "
            "o.ordinal",
            patient_ids,
        )
        return [_row(r) for r in rows]

    def _of_patients(self, sql: str, patient_ids: Iterable[str]) -> list[Any]:
        """The rows of ``sql`` whose ``{}`` is filled with one marker per patient id."""
        ids = sorted(set(patient_ids))
        if not ids:
            return []
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(sql.format(",".join("?" * len(ids)))), ids)
            return list(c.fetchall())

    def observation(self, observation_id: str) -> ObservationRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(f"{_SELECT} WHERE o.observation_id = ?"), (observation_id,))
            found = c.fetchone()
            return None if found is None else _row(found)

    def reports_of(self, patient_ids: Iterable[str]) -> list[ReportRecord]:
        rows = self._of_patients(
            "SELECT * FROM observation_reports_v1 WHERE patient_id IN ({}) "
            "ORDER BY order_number, report_id",
            patient_ids,
        )
        return [_report(r) for r in rows]

    def report(self, report_id: str) -> ReportRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql("SELECT * FROM observation_reports_v1 WHERE report_id = ?"), (report_id,)
            )
            found = c.fetchone()
            return None if found is None else _report(found)

    def merges(self) -> dict[str, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT retired_id, survivor_id FROM observation_merges_v1")
            return {r["retired_id"]: r["survivor_id"] for r in c.fetchall()}


def _report(
    r: Any,
    status: str = "status",
    observed_at: str = "observed_at",
    updated_at: str = "updated_at",
    source: str = "source_message_id",
) -> ReportRecord:
    """A row of ``observation_reports_v1`` as a ReportRecord; the column names given are
    those the joined observation query renames (it has its own of each)."""
    return ReportRecord(
        report_id=r["report_id"],
        order_number=r["order_number"],
        patient_id=r["patient_id"],
        encounter_id=r["encounter_id"],
        service=Coded(r["service_code"], r["service_text"], r["service_system"]),
        status=r[status],
        observed_at=_time(r[observed_at]),
        updated_at=_time(r[updated_at]),
        source_message_id=r[source],
    )


def _row(r: Any) -> ObservationRow:
    report = _report(r, "report_status", "report_observed_at", "report_updated_at", "report_source")
    observed = _time(r["observed_at"])
    updated = _time(r["updated_at"])
    assert updated is not None  # NOT NULL column
    return ObservationRow(
        report=report,
        set_id=r["set_id"],
        value_type=r["value_type"],
        code=Coded(r["code"], r["code_text"], r["code_system"]),
        values=tuple(json.loads(r["value_json"])),
        numeric=None if r["value_numeric"] is None else Decimal(r["value_numeric"]),
        comparator=r["comparator"],
        units=r["units"],
        reference_range=r["reference_range"],
        abnormal_flags=tuple(f for f in r["abnormal_flags"].split("~") if f),
        status=r["status"],
        observed_at=observed if observed is not None else report.observed_at,
        updated_at=updated,
        source_message_id=r["source_message_id"],
        revision=int(r["revision"]),
        coded=Coded(r["value_code"], r["value_code_text"], r["value_code_system"])
        if r["value_code"]
        else None,
        sn_num1=None if r["sn_num1"] is None else Decimal(r["sn_num1"]),
        sn_separator=r["sn_separator"],
        sn_num2=None if r["sn_num2"] is None else Decimal(r["sn_num2"]),
    )
