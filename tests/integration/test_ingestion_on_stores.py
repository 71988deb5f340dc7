"""The ingestion scenarios of tests/unit again, through the real stores (SQLite, PostgreSQL).

The unit modules run on the in-memory store; here the same test functions are
collected again with an ``app`` fixture on each durable backend, so every ADT,
result and charge scenario (and each HL7 version of it) also holds where the
recorder, the transcoder and the unique constraints are real.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.crypto.setup import prepare_keys
from engine.application.ingestion import Ingestion
from engine.config import Settings
from tests.fakes import FakeMessageValidator, FixedClock
from tests.unit.test_adt_scenarios import *  # noqa: F403
from tests.unit.test_results_and_charges import *  # noqa: F403


@pytest.fixture
def app(durable_store_url: str) -> Iterator[Ingestion]:
    """The ingestion service on a real store (overrides the in-memory one of conftest)."""
    settings = Settings(store=durable_store_url)
    if settings.backend == "sqlite":
        settings.sqlite_path().parent.mkdir(parents=True, exist_ok=True)
    settings = prepare_keys(settings)  # encrypted at rest, as `serve` makes the keys
    ingestion = Ingestion(
        settings.eventsourcing_env(), validator=FakeMessageValidator(), clock=FixedClock()
    )
    yield ingestion
    ingestion.close()
