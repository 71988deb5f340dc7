"""Data at rest end to end: a canary patient by MLLP, backups, erasure through every surface."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.mllp.client import MLLPClient
from engine.hl7.message import parse_message
from tests.e2e.server import ServeProcess, run_carelog
from tests.integration.crypto.canary import Canary

pytestmark = [pytest.mark.e2e, pytest.mark.native]


def carelog(*args: str, store: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_carelog(*args, store=f"sqlite:///{store}", env=env, cwd=store.parent, timeout=300)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "var" / "carelog.db"


@pytest.fixture
def server(store: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(f"sqlite:///{store}").start()
    yield proc
    proc.kill()


def send(server: ServeProcess, *messages: bytes) -> None:
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
        for message in messages:
            assert parse_message(client.send(message)).get("MSA", 1) == "AA"


def _get(server: ServeProcess, url: str, **kwargs: Any) -> httpx.Response:
    """GET with a full-access token from the served store's embedded issuer."""
    return httpx.get(url, headers=server.headers, **kwargs)


def search(server: ServeProcess, mrn: str, *, total: int, timeout: float = 20.0) -> Any:
    """The FHIR search for ``mrn`` once it has ``total`` hits (read models trail the ACK)."""
    deadline = time.monotonic() + timeout
    while True:
        bundle = _get(
            server, f"{server.base_url}/fhir/Patient", params={"identifier": f"HOSP|{mrn}"}
        ).json()
        if bundle["total"] == total or time.monotonic() > deadline:
            return bundle


def event_states(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        return b"".join(bytes(r[0]) for r in db.execute("SELECT state FROM stored_events"))


def test_canary_backup_erase_restore(server: ServeProcess, store: Path, tmp_path: Path) -> None:
    gone, kept = Canary.new(), Canary.new()
    send(server, gone.a01(), kept.a01())
    (entry,) = search(server, gone.mrn, total=1)["entry"]
    patient_id = entry["resource"]["id"]
    api = f"{server.base_url}/api/patients/{patient_id}/history"
    assert _get(server, api).status_code == 200
    encounters = _get(server, f"{server.base_url}/fhir/Encounter", params={"patient": patient_id})
    assert encounters.json()["total"] == 1
    assert search(server, kept.mrn, total=1)["total"] == 1

    # Every file carelog made is its owner's only (umask 077): store, WAL, keys.
    for made in (store, store.with_name(store.name + "-wal"), *(store.parent / "keys").iterdir()):
        assert made.stat().st_mode & 0o777 == 0o600, made
    # Stored events hold no canary string; read models do (documented).
    assert gone.found_in(event_states(store)) == []
    before = tmp_path / "before.db"
    backup = carelog("backup", str(before), store=store)
    assert backup.returncode == 0, backup.stderr
    assert gone.found_in(before.read_bytes()) == []  # events and seals only: no read models
    assert before.stat().st_mode & 0o777 == 0o600
    keys = store.parent / "keys"
    assert not any(k.name.encode() in before.read_bytes() for k in keys.iterdir())
    assert (keys / "master.key").read_bytes().strip() not in before.read_bytes()

    erased = carelog(
        "erase", "--patient", f"HOSP|{gone.mrn}", "--reason", "request 42", store=store
    )
    assert erased.returncode == 0, erased.stderr
    assert f"erased patient {patient_id}" in erased.stdout

    # FHIR: search finds nothing, a read answers 410 Gone; the other patient is untouched.
    assert search(server, gone.mrn, total=0)["total"] == 0
    read = _get(server, f"{server.base_url}/fhir/Patient/{patient_id}")
    assert read.status_code == 410 and read.json()["issue"][0]["code"] == "deleted"
    assert search(server, kept.mrn, total=1)["total"] == 1
    assert _get(server, api).status_code == 404  # /api: the history knows no such patient
    encounters = _get(server, f"{server.base_url}/fhir/Encounter", params={"patient": patient_id})
    assert encounters.json()["total"] == 0
    assert gone.family not in _get(server, f"{server.base_url}/api/queue/WARD1").text
    # The read models (the whole store file) no longer hold the erased patient.
    server.stop()
    assert gone.found_in(store.read_bytes()) == []
    assert kept.found_in(store.read_bytes()) != []  # read models keep what queries need

    history = carelog("history", "--patient", patient_id, store=store)
    assert history.returncode == 1 or ": 0 event(s)" in history.stdout
    verify = carelog("verify", "--seal", store=store)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    as_of = tmp_path / "as-of.db"
    replay = carelog("replay", "--as-of", "2100-01-01", "--into", str(as_of), store=store)
    assert replay.returncode == 0, replay.stderr
    assert gone.found_in(as_of.read_bytes()) == [] and kept.found_in(as_of.read_bytes()) != []
    assert as_of.stat().st_mode & 0o777 == 0o600

    # The backup taken before the erasure restores without the erased patient.
    restored = tmp_path / "restored" / "carelog.db"
    restored.parent.mkdir()
    os.symlink(keys, restored.parent / "keys")  # the same keys directory, kept apart
    done = carelog("restore", str(before), store=restored)
    assert done.returncode == 0, done.stderr
    assert gone.found_in(restored.read_bytes()) == [] and kept.found_in(restored.read_bytes())
    assert carelog("verify", store=restored).returncode == 0
    again = carelog("restore", str(before), store=restored)
    assert again.returncode == 2 and "exists" in again.stderr

    # After the erasure the seals still catch tampering, on an erased record too.
    with sqlite3.connect(store) as db:
        rowid, state = db.execute(
            "SELECT rowid, state FROM stored_events ORDER BY rowid"
        ).fetchone()
        db.execute(
            "UPDATE stored_events SET state=? WHERE rowid=?",
            (state[:-1] + bytes([state[-1] ^ 1]), rowid),
        )
    tampered = carelog("verify", store=store)
    assert tampered.returncode == 1 and f"first bad position {rowid}" in tampered.stdout
