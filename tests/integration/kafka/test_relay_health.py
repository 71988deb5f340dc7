"""/health with a real broker stopped and started again: 503 naming the relay once the broker
has been gone past the grace, 200 again after it comes back and the relay has published on."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import Engine, build
from adapters.http.app import create_app
from adapters.serving import health_of
from engine.config import Settings
from tests.asgi import get
from tests.fakes import FakeMessageValidator
from tests.integration.test_health import wait_until
from tests.messages import adt

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[3]
GRACE_S = 1.0


def services(command: str) -> None:
    """Stops or starts the broker `make test` runs, keeping its data (.ci/services.sh)."""
    subprocess.run(["bash", str(ROOT / ".ci" / "services.sh"), command], check=True, timeout=180)


class RelayThread:
    """The engine's relay on an event loop of its own, as `carelog serve` runs it."""

    def __init__(self, engine: Engine) -> None:
        self.relay = engine.relay
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    async def _run(self) -> None:
        self.stop_event = asyncio.Event()
        await self.relay.run(self.stop_event)

    def __enter__(self) -> RelayThread:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        deadline = time.monotonic() + 5
        while self.stop_event is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(60)
        self.loop.close()


def test_health_names_the_relay_while_its_broker_is_down_then_recovers(
    durable_store_url: str, kafka_servers: str, topic: str
) -> None:
    settings = replace(
        Settings(store=durable_store_url),
        kafka=kafka_servers,
        kafka_topic=topic,
        kafka_partitions=1,
        health_relay_grace_s=GRACE_S,
    )
    engine = build(settings, validator=FakeMessageValidator())
    relay = engine.relay
    assert relay is not None
    relay.retry_s = 0.2
    app = create_app(engine.http_views(), health=health_of(engine))

    def status() -> int:
        return get(app, "/health", auth=False).status_code

    def head() -> int:
        return engine.ingestion.recorder.max_notification_id() or 0

    try:
        with RelayThread(engine):
            engine.ingestion.ingest(adt("A01", "C1", mrn="M1", visit="V1"), "t")
            assert wait_until(lambda: relay.last_published == head(), 60), relay.error
            assert status() == 200
            services("stop-kafka")
            try:
                # Idle, the relay still notices: it asks the broker for metadata.
                assert wait_until(lambda: status() == 503, 60), relay.error
                body = get(app, "/health", auth=False).json()
                [cause] = body["causes"]
                assert cause["cause"] == "relay" and cause["error"], cause
                assert cause["published_position"] == relay.last_published
                # Ingestion goes on meanwhile; the events wait in the store.
                engine.ingestion.ingest(adt("A01", "C2", mrn="M2", visit="V2"), "t")
                assert relay.last_published < head()
            finally:
                services("start-kafka")
            assert wait_until(lambda: status() == 200, 120), relay.error
            assert wait_until(lambda: relay.last_published == head(), 60), relay.error
            assert get(app, "/health", auth=False).json()["causes"] == []
    finally:
        engine.close()


def test_a_short_outage_within_the_grace_stays_healthy() -> None:
    from adapters.health import relay_cause

    class Relay:
        failing_since = 1000.0
        error = ConnectionError()
        last_published = 7

    assert relay_cause(Relay(), 30.0, now=1010.0) is None
    cause = relay_cause(Relay(), 30.0, now=1031.0)
    assert cause is not None and cause["error"] == "ConnectionError"
