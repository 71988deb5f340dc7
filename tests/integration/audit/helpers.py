"""Reading a projection's tables straight from the database, to compare two states."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from adapters.bootstrap import Engine, build
from engine.config import Settings
from projections.catalog import ProjectionSpec
from tests.fakes import FakeMessageValidator
from tests.scenario import STAY


def engine_with_stay(
    store_url: str, messages: tuple[bytes, ...] = STAY, *, encryption: bool = True
) -> Engine:
    """An engine on ``store_url`` that has ingested the scenario and caught up."""
    settings = Settings(store=store_url, encryption=encryption)
    engine = build(settings, validator=FakeMessageValidator())
    for message in messages:
        outcome = engine.ingestion.ingest(message, "test")
        assert outcome.ack_code == "AA", (outcome.text, outcome.faults)
    engine.runner.catch_up()
    return engine


def _rows(cursor: Any, table: str) -> list[tuple[str, ...]]:
    cursor.execute(f"SELECT * FROM {table}")
    rows = [tuple("" if v is None else str(v) for v in dict(r).values()) for r in cursor.fetchall()]
    return sorted(rows)


def dump_sqlite(path: Path, spec: ProjectionSpec) -> dict[str, list[tuple[str, ...]]]:
    """Every row of ``spec``'s tables and its position, from a SQLite file."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        c = db.cursor()
        state = {t: _rows(c, t) for t in spec.tables}
        state["position"] = _position(c, spec)
    return state


def _position(cursor: Any, spec: ProjectionSpec) -> list[tuple[str, ...]]:
    cursor.execute(
        f"SELECT notification_id FROM {spec.name}_tracking WHERE application_name='carelog'"
    )
    return [tuple(str(v) for v in dict(r).values()) for r in cursor.fetchall()]


def dump(store_url: str, spec: ProjectionSpec) -> dict[str, list[tuple[str, ...]]]:
    """Every row of ``spec``'s tables and its position, on SQLite or PostgreSQL."""
    if store_url.startswith("sqlite:///"):
        return dump_sqlite(Path(store_url[len("sqlite:///") :]), spec)
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(store_url, row_factory=dict_row) as conn, conn.cursor() as c:
        state = {t: _rows(c, t) for t in spec.tables}
        state["position"] = _position(c, spec)
    return state


def execute(store_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Runs ``sql`` on the store's database directly (to tamper with it, in tests)."""
    if store_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(store_url[len("sqlite:///") :])) as db, db:
            return db.execute(sql.replace("%s", "?"), params).fetchall()
    import psycopg

    with psycopg.connect(store_url) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def events_table(store_url: str) -> tuple[str, str]:
    """The stored events table and its position column on this backend."""
    if store_url.startswith("sqlite:///"):
        return "stored_events", "rowid"
    return "carelog_events", "notification_id"


def position_of(engine: Engine, topic_suffix: str, nth: int = 0) -> int:
    """The position of the ``nth`` stored record whose topic ends with ``topic_suffix``."""
    records = engine.ingestion.recorder.select_notifications(1, 10_000)
    return [n.id for n in records if n.topic.endswith(topic_suffix)][nth]
