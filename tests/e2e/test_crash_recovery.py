"""kill -9 under load: every acknowledged message survives, and resends never double it."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from adapters.mllp.client import MLLPClient, ack_code_of
from bench.corpus import adt_messages
from tests.e2e.server import ServeProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.native]

MESSAGES = 2000


def test_kill_9_during_load_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    ports = {"mllp_port": free_port(), "http_port": free_port()}
    messages = adt_messages(MESSAGES)
    acked: list[int] = []
    codes: Counter[str] = Counter()
    failures: list[str] = []

    def sender() -> None:
        # A sender that resends whatever was not acknowledged, as interface engines do.
        client = MLLPClient("127.0.0.1", ports["mllp_port"], timeout_s=5, retries=60)
        try:
            for n, message in enumerate(messages):
                try:
                    code = ack_code_of(client.send(message))
                except Exception as e:  # the test reports it below
                    failures.append(f"message {n}: {e}")
                    return
                codes[code] += 1
                acked.append(n)
        finally:
            client.close()

    server = ServeProcess(store, **ports).start()
    thread = threading.Thread(target=sender)
    thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < MESSAGES // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # mid-stream, with messages in flight
    killed_after = len(acked)
    assert 0 < killed_after < MESSAGES
    restarted = ServeProcess(store, **ports).start()
    try:
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert failures == []
        assert len(acked) == MESSAGES
        assert set(codes) <= {"AA", "CA"}
    finally:
        assert restarted.stop() == 0

    with sqlite3.connect(store[len("sqlite:///") :]) as db:
        topics = Counter(
            topic.rsplit(":", 1)[1] for (topic,) in db.execute("SELECT topic FROM stored_events")
        )
        received = db.execute(
            "SELECT COUNT(DISTINCT originator_id) FROM stored_events "
            "WHERE topic LIKE '%InboundMessage.Received'"
        ).fetchone()[0]
    # Every message exactly once, and every event it caused exactly once.
    assert topics["InboundMessage.Received"] == received == MESSAGES
    assert topics["Patient.Registered"] == MESSAGES  # the corpus has one patient per message
    started = topics["Encounter.Admitted"] + topics["Encounter.Registered"]
    assert started == MESSAGES
