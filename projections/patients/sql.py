"""The patient index's SQL, written once for SQLite and PostgreSQL.

Both speak ``INSERT ... ON CONFLICT ... DO UPDATE`` and return rows addressable
by column name; only the parameter placeholder differs, so the backend classes
(``sqlite.py``, ``postgres.py``) supply that, their DDL and their recorder base.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from engine.domain.values import Identifier, PatientDetails, PersonName
from projections.batching import SQLBatching
from projections.patients.details import details_json, details_of
from projections.patients.search import (
    SORT_COLUMNS,
    DateRange,
    PatientCriteria,
    prefix_bounds,
    search_key,
)
from projections.patients.view import PatientRecord

__all__ = ["DETAILS_UPGRADE", "MERGED_FROM_UPGRADE", "PATIENT_TABLES", "SQLPatientQueries"]

PATIENT_TABLES = ("patient_identifiers_v1", "patients_v1")

_NAME_COLUMNS = ("family", "given", "middle", "suffix", "prefix", "name_use")


def create_statements(timestamp_type: str) -> list[str]:
    """DDL for the patient index; ``timestamp_type`` is the backend's aware-time type."""
    return [
        "CREATE TABLE IF NOT EXISTS patients_v1 ("
        "patient_id TEXT PRIMARY KEY, family TEXT, given TEXT, middle TEXT, "
        "suffix TEXT, prefix TEXT, name_use TEXT, birth_date TEXT, sex TEXT, "
        f"updated_at {timestamp_type} NOT NULL, merged_into TEXT NOT NULL DEFAULT '', "
        "details TEXT NOT NULL DEFAULT '')",
        "CREATE TABLE IF NOT EXISTS patient_identifiers_v1 ("
        "value TEXT NOT NULL, authority TEXT NOT NULL, authority_id TEXT NOT NULL, "
        "authority_id_type TEXT NOT NULL, type_code TEXT NOT NULL, "
        "patient_id TEXT NOT NULL REFERENCES patients_v1(patient_id), "
        "claimed_at BIGINT NOT NULL DEFAULT 0, merged_from TEXT NOT NULL DEFAULT '', "
        "PRIMARY KEY (value, authority, authority_id))",
        "CREATE INDEX IF NOT EXISTS patient_identifiers_v1_patient "
        "ON patient_identifiers_v1 (patient_id)",
    ]


# Added after the table first shipped: a database created before gets the column
# (claims already there count as position 0, older than any new claim).
CLAIMED_AT_UPGRADE = (
    "ALTER TABLE patient_identifiers_v1 ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0"
)

# Added with merged identifiers shown as old ones: the retired patient an identifier
# came from in a merge ('' for the patient's own). Rows from before count as own.
MERGED_FROM_UPGRADE = (
    "ALTER TABLE patient_identifiers_v1 ADD COLUMN merged_from TEXT NOT NULL DEFAULT ''"
)

# Added with PID's other names, addresses, telecom and death (JSON, details.py).
DETAILS_UPGRADE = "ALTER TABLE patients_v1 ADD COLUMN details TEXT NOT NULL DEFAULT ''"


KEY_COLUMNS = ("family_key", "given_key", "middle_key")


def _keys(name: PersonName) -> tuple[str, str, str]:
    """The search keys of a name's family, given and middle parts (see patients.search)."""
    return search_key(name.family), search_key(name.given), search_key(name.middle)


class SQLPatientQueries(SQLBatching):
    """Commands and queries of PatientView over a DB-API cursor with named rows.

    Mixed into a library tracking recorder, which provides ``datastore`` (whose
    ``transaction`` yields a cursor) and ``_insert_tracking`` (same transaction);
    commands join the runner's batch when one is open (projections.batching).
    """

    _WRITES = {
        "patients": "INSERT INTO patients_v1 (patient_id, family, given, middle, suffix, "
        "prefix, name_use, birth_date, sex, updated_at, merged_into, details, family_key, "
        "given_key, middle_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        # Within a batch only the latest claim per identifier is buffered (see
        # _claim_identifier); the WHERE keeps a later claim already stored.
        "identifiers": "INSERT INTO patient_identifiers_v1 (value, authority, authority_id, "
        "authority_id_type, type_code, patient_id, claimed_at, merged_from) "
        "VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT (value, authority, authority_id) DO UPDATE SET "
        "patient_id=excluded.patient_id, type_code=excluded.type_code, "
        "authority_id_type=excluded.authority_id_type, claimed_at=excluded.claimed_at, "
        "merged_from=excluded.merged_from "
        "WHERE excluded.claimed_at >= patient_identifiers_v1.claimed_at",
    }

    def register_patient(
        self,
        patient_id: str,
        identifiers: Sequence[Identifier],
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
        details: PatientDetails | None = None,
    ) -> None:
        with self._transaction(tracking) as c:
            text = details_json(details or PatientDetails())
            row = [
                patient_id,
                *_name_row(name),
                birth_date,
                sex,
                updated_at.isoformat(),
                "",
                text,
                *_keys(name),
            ]
            self._write(c, "patients", row)
            cache = self._batch_cache()
            if cache is not None:  # later updates in this batch change the buffered row
                cache[patient_id] = row
            for identifier in identifiers:
                self._claim_identifier(c, patient_id, identifier, tracking.notification_id)

    def update_demographics(
        self,
        patient_id: str,
        name: PersonName,
        birth_date: str,
        sex: str,
        updated_at: datetime,
        tracking: Tracking,
        details: PatientDetails | None = None,
    ) -> None:
        with self._transaction(tracking) as c:
            values = (*_name_row(name), birth_date, sex, updated_at.isoformat())
            text = None if details is None else details_json(details)
            row = self._buffered_patient(patient_id)
            if row is not None:
                row[1:10] = values
                if text is not None:
                    row[11] = text
                row[12:15] = _keys(name)
                return
            c.execute(
                self._sql(
                    "UPDATE patients_v1 SET family=?, given=?, middle=?, suffix=?, prefix=?, "
                    "name_use=?, birth_date=?, sex=?, updated_at=?, "
                    "details=COALESCE(?, details), family_key=?, given_key=?, middle_key=? "
                    "WHERE patient_id=?"
                ),
                (*values, text, *_keys(name), patient_id),
            )

    def mark_merged(
        self, patient_id: str, survivor_id: str, updated_at: datetime, tracking: Tracking
    ) -> None:
        with self._transaction(tracking) as c:
            row = self._buffered_patient(patient_id)
            if row is not None:
                row[9], row[10] = updated_at.isoformat(), survivor_id
                return
            c.execute(
                self._sql("UPDATE patients_v1 SET merged_into=?, updated_at=? WHERE patient_id=?"),
                (survivor_id, updated_at.isoformat(), patient_id),
            )

    def _buffered_patient(self, patient_id: str) -> list[Any] | None:
        """The row this batch will insert for ``patient_id`` (changed in place), if any.

        A patient not in the buffer is in the database already (or nowhere), and
        no buffered row touches it, so its UPDATE runs at once, as in order.
        """
        cache = self._batch_cache()
        return None if cache is None else cache.get(patient_id)

    def add_identifier(
        self,
        patient_id: str,
        identifier: Identifier,
        tracking: Tracking,
        updated_at: datetime | None = None,
    ) -> None:
        with self._transaction(tracking) as c:
            self._claim_identifier(c, patient_id, identifier, tracking.notification_id)
            if updated_at is not None:
                self._touch(c, patient_id, updated_at)

    def absorb(
        self,
        patient_id: str,
        retired_id: str,
        identifiers: Sequence[Identifier],
        updated_at: datetime,
        tracking: Tracking,
    ) -> None:
        with self._transaction(tracking) as c:
            for identifier in identifiers:
                position = tracking.notification_id
                self._claim_identifier(c, patient_id, identifier, position, retired_id)
            self._touch(c, patient_id, updated_at)

    def _touch(self, c: Any, patient_id: str, updated_at: datetime) -> None:
        """Moves a patient's last change (the buffered row's, when this batch inserts it)."""
        row = self._buffered_patient(patient_id)
        if row is not None:
            row[9] = updated_at.isoformat()
            return
        c.execute(
            self._sql("UPDATE patients_v1 SET updated_at=? WHERE patient_id=?"),
            (updated_at.isoformat(), patient_id),
        )

    def _claim_identifier(
        self, c: Any, patient_id: str, identifier: Identifier, position: int, merged_from: str = ""
    ) -> None:
        # An identifier belongs to the patient whose claim is latest IN STORE ORDER
        # (merges rely on this), not the one applied last: a Kafka worker can apply
        # a retired patient's registration, on another partition, after the
        # survivor's claim from the merge. The claim keeps its event's position and
        # only a later position replaces it (ties: the same event, applied again).
        key = (identifier.value, identifier.authority, identifier.authority_id)
        params = (
            *key,
            identifier.authority_id_type,
            identifier.type_code,
            patient_id,
            position,
            merged_from,
        )
        buffered = self._buffered("identifiers")
        if buffered is not None:
            earlier = buffered.get(key)
            if earlier is not None and earlier[6] > position:
                return  # the batch holds a later claim: the upsert would keep that one
        self._write(c, "identifiers", params, key)

    def get_patient(self, patient_id: str) -> PatientRecord | None:
        with self.datastore.transaction(commit=False) as c:
            records = self._records(c, [patient_id])
        return records[0] if records else None

    def find_by_identifier(self, value: str, authority: str | None = None) -> list[PatientRecord]:
        with self.datastore.transaction(commit=False) as c:
            if authority is None:
                c.execute(
                    self._sql(
                        "SELECT DISTINCT patient_id FROM patient_identifiers_v1 WHERE value=?"
                    ),
                    (value,),
                )
            else:
                c.execute(
                    self._sql(
                        "SELECT DISTINCT patient_id FROM patient_identifiers_v1 "
                        "WHERE value=? AND (authority=? OR authority_id=?)"
                    ),
                    (value, authority, authority),
                )
            ids = sorted(r["patient_id"] for r in c.fetchall())
            return self._records(c, ids)

    key_type = "TEXT"  # PostgreSQL: binary order, so a prefix is a range of the index

    def has_key_columns(self, c: Any) -> bool:
        """Whether ``patients_v1`` has the name search keys (tables made before them do not)."""
        raise NotImplementedError

    def upgrade(self) -> None:
        """Adds the name search keys to tables made before them, fills them in, indexes them.

        The keys derive from the name columns, so old rows get them here, at
        start, without a replay.
        """
        with self.datastore.transaction(commit=True) as c:
            if not self.has_key_columns(c):
                for column in KEY_COLUMNS:
                    c.execute(f"ALTER TABLE patients_v1 ADD COLUMN {column} {self.key_type}")
            c.execute(
                "SELECT patient_id, family, given, middle FROM patients_v1 WHERE family_key IS NULL"
            )
            missing = [
                (
                    *_keys(PersonName(r["family"] or "", r["given"] or "", r["middle"] or "")),
                    r["patient_id"],
                )
                for r in c.fetchall()
            ]
            for values in missing:
                c.execute(
                    self._sql(
                        "UPDATE patients_v1 SET family_key=?, given_key=?, middle_key=? "
                        "WHERE patient_id=?"
                    ),
                    values,
                )
            for column in (*KEY_COLUMNS, "birth_date"):
                c.execute(
                    f"CREATE INDEX IF NOT EXISTS patients_v1_{column} ON patients_v1 ({column})"
                )
            # _sort and keyset pages: (sort column, patient id) is one index range scan.
            for column in SORT_COLUMNS.values():
                c.execute(
                    f"CREATE INDEX IF NOT EXISTS patients_v1_sort_{column} "
                    f"ON patients_v1 ({column}, patient_id)"
                )
            # gender: a third of the patients each, so the count and the page need the ids
            # in the index (one range, in id order), not a row lookup per match.
            c.execute("CREATE INDEX IF NOT EXISTS patients_v1_sex ON patients_v1 (sex, patient_id)")

    def search(self, criteria: PatientCriteria, limit: int) -> list[PatientRecord]:
        where, params = _where(criteria)
        keyset = criteria.keyset
        column = SORT_COLUMNS.get(keyset.sort)
        columns = (column, "patient_id") if column else ("patient_id",)
        if keyset.cursor is not None:
            # Beyond the cursor in the page's direction: a row-value range of the index.
            ahead = keyset.descending == keyset.backward
            marks = ",".join("?" * len(columns))
            where += f" AND ({', '.join(columns)}) {'>' if ahead else '<'} ({marks})"
            params.extend(keyset.cursor if column else keyset.cursor[1:])
        reverse = keyset.descending != keyset.backward
        order = ", ".join(f"{c} DESC" if reverse else c for c in columns)
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql(
                    f"SELECT patient_id FROM patients_v1 WHERE {where} "
                    f"ORDER BY {order} LIMIT {int(limit)}"
                ),
                params,
            )
            ids = [r["patient_id"] for r in c.fetchall()]
            if keyset.backward:
                ids.reverse()
            return self._records(c, ids)

    def count(self, criteria: PatientCriteria) -> int:
        where, params = _where(criteria)
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(f"SELECT COUNT(*) AS n FROM patients_v1 WHERE {where}"), params)
            row = c.fetchone()
            return int(row["n"])

    def _records(self, c: Any, patient_ids: list[str]) -> list[PatientRecord]:
        """The records of ``patient_ids``, in that order (an id without a row is left out).

        Two queries per chunk of ids, not two per patient: on PostgreSQL each
        query is a round trip, and a page of 50 patients spent most of its
        time on a hundred of them.
        """
        rows: dict[str, Any] = {}
        listed: dict[str, list[tuple[Identifier, bool]]] = {p: [] for p in patient_ids}
        for at in range(0, len(patient_ids), _CHUNK):
            chunk = patient_ids[at : at + _CHUNK]
            marks = ",".join("?" * len(chunk))
            c.execute(self._sql(f"SELECT * FROM patients_v1 WHERE patient_id IN ({marks})"), chunk)
            rows.update((r["patient_id"], r) for r in c.fetchall())
            c.execute(
                self._sql(
                    f"SELECT * FROM patient_identifiers_v1 WHERE patient_id IN ({marks}) "
                    "ORDER BY patient_id, merged_from <> '', type_code <> 'MR', authority, value"
                ),
                chunk,
            )
            for r in c.fetchall():
                identifier = Identifier(
                    value=r["value"],
                    authority=r["authority"],
                    type_code=r["type_code"],
                    authority_id=r["authority_id"],
                    authority_id_type=r["authority_id_type"],
                )
                listed[r["patient_id"]].append((identifier, bool(r["merged_from"])))
        return [
            _record(rows[patient_id], listed[patient_id])
            for patient_id in patient_ids
            if patient_id in rows
        ]


_CHUNK = 500  # ids per IN list: well under SQLite's and PostgreSQL's parameter limits


def _record(row: Any, listed: list[tuple[Identifier, bool]]) -> PatientRecord:
    """A patient row and its identifiers (each with whether a merge brought it) as a record."""
    updated = row["updated_at"]
    return PatientRecord(
        patient_id=row["patient_id"],
        name=PersonName(**{("use" if k == "name_use" else k): row[k] or "" for k in _NAME_COLUMNS}),
        birth_date=row["birth_date"] or "",
        sex=row["sex"] or "",
        updated_at=updated if isinstance(updated, datetime) else datetime.fromisoformat(updated),
        identifiers=tuple(i for i, _ in listed),
        merged_into=row["merged_into"] or "",
        details=details_of(row["details"]),
        old_identifiers=frozenset(i.key() for i, old in listed if old),
    )


def _name_row(name: PersonName) -> tuple[str, ...]:
    return (name.family, name.given, name.middle, name.suffix, name.prefix, name.use)


def _prefixes(columns: tuple[str, ...], alternatives: tuple[str, ...]) -> tuple[str, list[str]]:
    """Any of ``columns`` starting with any of the prefixes: index ranges, ORed."""
    clauses: list[str] = []
    params: list[str] = []
    for prefix in alternatives:
        low, high = prefix_bounds(prefix)
        for column in columns:
            clauses.append(f"({column} >= ? AND {column} < ?)")
            params.extend((low, high))
    return "(" + " OR ".join(clauses) + ")", params


_DATE_SQL = {  # each FHIR prefix over the [low, high) a (partial) date covers
    "eq": ("birth_date >= ? AND birth_date < ?", ("low", "high")),
    "ne": ("(birth_date < ? OR birth_date >= ?)", ("low", "high")),
    "lt": ("birth_date < ?", ("low",)),
    "le": ("birth_date < ?", ("high",)),
    "gt": ("birth_date >= ?", ("high",)),
    "ge": ("birth_date >= ?", ("low",)),
}


def _range_sql(column: str, r: DateRange) -> str:
    """``_DATE_SQL``'s clause for ``r``'s prefix, over ``column``."""
    return _DATE_SQL[r.prefix][0].replace("birth_date", column)


def _where(criteria: PatientCriteria) -> tuple[str, list[Any]]:
    """The WHERE clause (``?`` markers) and its parameters for ``criteria``."""
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if criteria.ids:
        clauses.append(f"patient_id IN ({','.join('?' * len(criteria.ids))})")
        params.extend(criteria.ids)
    for value, authority in criteria.identifiers:
        if authority is None:
            clauses.append(
                "patient_id IN (SELECT patient_id FROM patient_identifiers_v1 WHERE value=?)"
            )
            params.append(value)
        else:
            clauses.append(
                "patient_id IN (SELECT patient_id FROM patient_identifiers_v1 "
                "WHERE value=? AND (authority=? OR authority_id=?))"
            )
            params.extend((value, authority, authority))
    for columns, groups in (
        (KEY_COLUMNS, criteria.names),
        (("family_key",), criteria.families),
        (("given_key", "middle_key"), criteria.givens),
    ):
        for alternatives in groups:
            clause, more = _prefixes(columns, alternatives)
            clauses.append(clause)
            params.extend(more)
    for r in criteria.birth_dates:
        sql, bounds = _DATE_SQL[r.prefix]
        clauses.append(f"birth_date <> '' AND {sql}")
        params.extend(r.low if b == "low" else r.high for b in bounds)
    for r in criteria.last_updated:
        clauses.append(_range_sql("updated_at", r))
        params.extend(r.low if b == "low" else r.high for b in _DATE_SQL[r.prefix][1])
    if criteria.sexes is not None:
        if not criteria.sexes:
            clauses.append("1 = 0")
        else:
            # Alone, gender is searched through its index; beside a more selective
            # criterion, ``sex || ''`` keeps the planner off it (SQLite, without statistics,
            # takes an equality on an index over a range on birth_date: a third of the table).
            narrower = (
                criteria.ids,
                criteria.identifiers,
                criteria.names,
                criteria.families,
                criteria.givens,
                criteria.birth_dates,
            )
            column = "(sex || '')" if any(narrower) else "sex"
            clauses.append(f"{column} IN ({','.join('?' * len(criteria.sexes))})")
            params.extend(criteria.sexes)
    return " AND ".join(clauses), params
