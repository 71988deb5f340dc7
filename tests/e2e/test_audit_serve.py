"""`carelog replay` while `carelog serve` takes messages, and serve sealing what it acknowledges."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from adapters.bootstrap import build
from adapters.mllp.client import MLLPClient, ack_code_of
from bench.corpus import adt_messages
from engine.config import Settings
from projections.catalog import CATALOG
from projections.rebuild import build_sqlite
from tests.e2e.server import ServeProcess, carelog_command
from tests.fakes import FakeMessageValidator
from tests.integration.audit.helpers import dump_sqlite

pytestmark = [pytest.mark.e2e, pytest.mark.native]


def _position(server: ServeProcess) -> int:
    with urllib.request.urlopen(f"{server.base_url}/health", timeout=5) as r:
        return int(json.load(r)["projection_position"])


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["default", "two-workers"])
def test_replay_while_serving_then_verify_after_stop(tmp_path: Path, workers: list[str]) -> None:
    db = tmp_path / "carelog.db"
    store = f"sqlite:///{db}"
    messages = adt_messages(600)
    server = ServeProcess(store).start()
    codes: list[str] = []

    def send(batch: list[bytes]) -> None:
        with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=30) as client:
            codes.extend(ack_code_of(client.send(m)) for m in batch)

    try:
        send(messages[:300])
        sender = threading.Thread(target=send, args=(messages[300:],))
        sender.start()  # messages keep arriving while the replay runs
        env = {**os.environ, "CARELOG_STORE": store, "CARELOG_LOG_LEVEL": "warning"}
        replay = subprocess.run(
            [*carelog_command(), "replay", *workers],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        sender.join(60)
        assert replay.returncode == 0, replay.stderr
        assert set(codes) <= {"AA", "CA"} and len(codes) == 600
        check = build(Settings(store=store), validator=FakeMessageValidator())
        head = check.ingestion.recorder.max_notification_id()
        deadline = time.monotonic() + 30
        while _position(server) < head and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _position(server) == head
        fresh = tmp_path / "fresh.db"
        build_sqlite(check.ingestion, list(CATALOG), fresh)
        for spec in CATALOG:  # nothing lost, nothing doubled by the swap
            assert dump_sqlite(db, spec) == dump_sqlite(fresh, spec), spec.key
        check.close()
    finally:
        assert server.stop() == 0
    verify = subprocess.run(
        [*carelog_command(), "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "not sealed" not in verify.stdout  # serve sealed everything it acknowledged
    assert f"intact: {head} records" in verify.stdout
