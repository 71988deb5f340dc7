"""The PostgreSQL store URL's query parameters reach every connection carelog opens.

eventsourcing builds its pool from host, port, database, user and password
only; without carelog's factory ``?sslmode=verify-full`` would be silently
dropped. ``application_name`` is visible on the server, so it proves the path.
"""

from __future__ import annotations

import psycopg
import pytest

from adapters.bootstrap import build
from adapters.kafka.lease import PostgresLease
from engine.config import Settings
from tests.conftest import sample
from tests.fakes import FakeMessageValidator

pytestmark = pytest.mark.postgres


def names_on_server(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    return {row[0] for row in rows}


def test_application_name_and_sslmode_of_the_url_reach_the_server(postgres_url: str) -> None:
    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}application_name=carelog-url-params&sslmode=disable"
    engine = build(Settings(store=url), validator=FakeMessageValidator())
    lease = PostgresLease(engine.settings.eventsourcing_env(), "carelog-test-url-params")
    try:
        outcome = engine.ingestion.ingest(sample("adt_a01.hl7"), "test")
        assert outcome.ack_code == "AA"
        engine.runner.catch_up()  # the read models' connections open too
        assert lease.acquire()
        # Every connection carelog holds (event store pool, views, lease) carries it.
        assert names_on_server(postgres_url) == {"carelog-url-params"}
    finally:
        lease.release()
        engine.close()
