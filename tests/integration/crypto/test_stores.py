"""The canary on each durable store: ciphertext only, yet it reads back."""

from __future__ import annotations

import pytest

from adapters.bootstrap import build
from engine.config import Settings
from tests.integration.audit.helpers import events_table, execute
from tests.integration.crypto.canary import Canary

pytestmark = [pytest.mark.native]


def test_stored_state_holds_no_canary_on_each_store(durable_store_url: str) -> None:
    engine = build(Settings(store=durable_store_url))
    try:
        canary = Canary.new()
        assert engine.ingestion.ingest(canary.a01()).ack_code == "AA"
        table, _ = events_table(durable_store_url)
        states = b"".join(
            bytes(r[0]) for r in execute(durable_store_url, f"SELECT state FROM {table}")
        )
        assert states and canary.found_in(states) == []
        engine.runner.catch_up()
        (record,) = engine.patients.find_by_identifier(canary.mrn, "HOSP")
        assert record.name.family == canary.family
    finally:
        engine.close()
