"""`carelog backup` while `serve` ingests 2,000 MLLP messages; kill -9 during a backup."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from adapters.mllp.client import MLLPClient
from engine.hl7.message import parse_message
from tests.e2e.server import ServeProcess, carelog_command
from tests.e2e.test_data_at_rest import carelog
from tests.integration.crypto.canary import Canary

pytestmark = [pytest.mark.e2e, pytest.mark.native]

TOTAL = 2000


def rows(path: Path) -> list[tuple[int, bytes, int, str, bytes]]:
    with sqlite3.connect(path) as db:
        return [
            (
                r[0],
                bytes(r[1]) if isinstance(r[1], bytes) else str(r[1]).encode(),
                r[2],
                r[3],
                bytes(r[4]),
            )
            for r in db.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events ORDER BY rowid"
            )
        ]


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(sql).fetchone()[0])


def test_backup_during_load_restores_verifies_and_replays(tmp_path: Path) -> None:
    store = tmp_path / "var" / "carelog.db"
    server = ServeProcess(f"sqlite:///{store}").start()
    acked = [0]
    messages = [Canary.new().a01() for _ in range(TOTAL)]

    def load() -> None:
        with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=30) as client:
            for message in messages:
                assert parse_message(client.send(message)).get("MSA", 1) == "AA"
                acked[0] += 1

    sender = threading.Thread(target=load)
    sender.start()
    try:
        deadline = time.monotonic() + 120
        while acked[0] < TOTAL // 4 and time.monotonic() < deadline and sender.is_alive():
            time.sleep(0.01)
        backup = tmp_path / "mid.db"
        made = carelog("backup", str(backup), store=store)
        at_backup = acked[0]
        sender.join(300)
    finally:
        server.stop()
    assert made.returncode == 0, made.stderr
    assert acked[0] == TOTAL
    taken = rows(backup)
    assert 0 < len(taken) < 3 * TOTAL and len(taken) >= 3 * (TOTAL // 4)
    assert at_backup < TOTAL  # taken while the load was still going
    # A consistent prefix of the source: the same records, byte for byte.
    assert rows(store)[: len(taken)] == taken

    restored = tmp_path / "restored" / "carelog.db"
    restored.parent.mkdir()
    (restored.parent / "keys").symlink_to(store.parent / "keys")
    done = carelog("restore", str(backup), store=restored)
    assert done.returncode == 0, done.stderr
    assert carelog("verify", store=restored).returncode == 0
    # Its read models are those of the source at the backup's position.
    registered = sum(1 for r in taken if r[3].endswith("Patient.Registered"))
    assert count(restored, "SELECT count(*) FROM patients_v1") == registered
    assert carelog("verify", store=store).returncode == 0


def test_kill_during_backup_leaves_the_source_intact(tmp_path: Path) -> None:
    store = tmp_path / "var" / "carelog.db"
    server = ServeProcess(f"sqlite:///{store}").start()
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=30) as client:
        for _ in range(300):
            client.send(Canary.new().a01())
    server.stop()
    before = rows(store)
    killed = False
    for attempt in range(10):
        target = tmp_path / f"b{attempt}.db"
        proc = subprocess.Popen(
            [*carelog_command(), "backup", str(target)],
            env={"CARELOG_STORE": f"sqlite:///{store}", "PATH": "/usr/bin:/bin"},
            cwd=store.parent,
        )
        part = target.with_name(target.name + ".part")
        deadline = time.monotonic() + 30
        while not part.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not target.exists():
            killed = True
            break
    assert killed, "the backup always finished before the kill"
    assert rows(store) == before
    assert carelog("verify", store=store).returncode == 0
    assert not target.exists()  # no half backup under the name asked for
