"""Shared fixtures: a clean environment for every test, sample messages, stores."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from engine.application.ingestion import Ingestion
from tests.fakes import FakeMessageValidator, FixedClock

DATA = Path(__file__).parent / "data"

# Every FHIR body a test receives goes through HAPI's reference validator at the end.
pytest_plugins = ["tests.fhir_validation"]

# Keys a developer's shell may carry that would change what a test runs against.
_LEAKY_PREFIXES = ("CARELOG_", "PERSISTENCE_MODULE", "SQLITE_", "POSTGRES_")
_KEEP = ("CARELOG_TEST_",)  # make test passes the service addresses through these


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Removes carelog and eventsourcing settings from the environment for each test."""
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES) and not key.startswith(_KEEP):
            monkeypatch.delenv(key)
    yield


def _check_fhir_output() -> None:
    import adapters.http.fhir_output

    adapters.http.fhir_output.CHECK = True  # every resource built is validated (its docstring)


def _no_logger_cache() -> None:
    import adapters.logging

    adapters.logging.CACHE_LOGGERS = False  # see its docstring


_no_logger_cache()
_check_fhir_output()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undoes a test's in-process ``carelog`` command's logging set-up (a CLI's, once per process).

    ``main(["validate", ...])`` in-process configures structlog and the root logger
    on the test's captured stderr, closed when the test ends; loggers cached later
    would write there, and ``capture_logs`` in later tests would miss them. The
    structlog configuration (its processor list object included) and the root
    logger's handlers and level are put back as they were.
    """
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def sample(name: str) -> bytes:
    """A message from tests/data/hl7."""
    return (DATA / "hl7" / name).read_bytes()


@pytest.fixture
def adt_a01() -> bytes:
    return sample("adt_a01.hl7")


@pytest.fixture
def app() -> Ingestion:
    """The ingestion service on the in-memory store, with a validator that finds nothing."""
    return Ingestion(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        validator=FakeMessageValidator(),
        clock=FixedClock(),
    )


def _reset_postgres(dsn: str) -> None:
    """Empties the test database, as eventsourcing's own Postgres tests do between tests."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _store_url(kind: str, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'carelog.db'}"
    dsn = os.environ.get("CARELOG_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.fail("CARELOG_TEST_POSTGRES_DSN is not set: run the suite with `make test`")
    _reset_postgres(dsn)
    return dsn


_POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


@pytest.fixture(params=["memory", "sqlite", _POSTGRES])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A CARELOG_STORE URL on every backend; the same test runs on each."""
    return _store_url(request.param, tmp_path)


@pytest.fixture(params=["sqlite", _POSTGRES])
def durable_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A CARELOG_STORE URL on each backend that outlives the process."""
    return _store_url(request.param, tmp_path)


@pytest.fixture
def postgres_url(tmp_path: Path) -> str:
    """An emptied PostgreSQL database (tests that need it, such as the scale-out ones)."""
    return _store_url("postgres", tmp_path)


@pytest.fixture
def kafka_servers() -> str:
    """The Kafka broker `make test` starts (a missing one fails the test, never skips it)."""
    servers = os.environ.get("CARELOG_TEST_KAFKA", "")
    if not servers:
        pytest.fail("CARELOG_TEST_KAFKA is not set: run the suite with `make test`")
    return servers
