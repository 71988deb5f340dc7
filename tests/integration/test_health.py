"""/health tells the truth: 503 naming a projection stuck on an event, or a store that takes
no writes, and 200 again once fixed; on SQLite and PostgreSQL (the relay: kafka/test_relay_health).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.bootstrap import Engine, build
from adapters.http.app import create_app
from adapters.serving import health_of
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.values import Identifier
from tests.asgi import get
from tests.fakes import FakeMessageValidator
from tests.messages import adt


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Polls ``condition`` until true or ``timeout`` (a bounded wait on what is observed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def engine_on(store: str) -> Engine:
    engine = build(Settings(store=store), validator=FakeMessageValidator())
    engine.runner.poll_interval_s = 0.1
    return engine


def health_app(engine: Engine) -> Any:
    return create_app(engine.http_views(), health=health_of(engine))


def answer(app: Any) -> tuple[int, dict[str, Any]]:
    response = get(app, "/health", auth=False)
    return response.status_code, response.json()


def test_a_projection_stuck_on_an_event_is_named_until_fixed(durable_store_url: str) -> None:
    """The read model's bug is fixed (deployed): the same event applies, the model catches up."""
    _stuck_then(durable_store_url, skip=False)


def test_a_projection_stuck_on_an_event_goes_on_once_the_event_is_skipped(
    durable_store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`carelog skip-event` records the event as applied for that read model only."""
    _stuck_then(durable_store_url, skip=True)
    assert "carelog replay --projection patients" in capsys.readouterr().out


def _stuck_then(durable_store_url: str, *, skip: bool) -> None:
    engine = engine_on(durable_store_url)
    app = health_app(engine)
    broken = patient_id_for(Identifier("BROKEN1", "HOSP", "MR"))
    bug = {"on": True}
    patients = next(p for p in engine.runner.projections if p.name == "patients_v1")
    apply = patients.process_event

    def buggy(event: Any, tracking: Any) -> None:
        # A read model's bug that one crafted message's events trigger.
        if bug["on"] and getattr(event, "originator_id", None) == broken:
            raise KeyError("BROKEN1")
        apply(event, tracking)

    patients.process_event = buggy  # type: ignore[method-assign]  # the bug under test
    try:
        engine.runner.start()
        ok = engine.ingestion.ingest(adt("A01", "C1", mrn="OK1", visit="V1"), "t")
        assert engine.runner.wait_for(ok.last_notification_id or 0)
        assert answer(app)[0] == 200
        crafted = engine.ingestion.ingest(adt("A01", "C2", mrn="BROKEN1", visit="V2"), "t")
        later = engine.ingestion.ingest(adt("A01", "C3", mrn="OK3", visit="V3"), "t")
        head = later.last_notification_id or 0
        engine.runner.nudge()
        assert wait_until(lambda: answer(app)[0] == 503), answer(app)
        status, body = answer(app)
        assert status == 503
        assert body["ready"] is False
        [cause] = body["causes"]
        assert cause["cause"] == "projection" and cause["read_model"] == "patients_v1"
        assert cause["error"] == "KeyError" and cause["event_type"].startswith("Patient.")
        stored = engine.ingestion.recorder.select_notifications(
            (ok.last_notification_id or 0) + 1, 100, stop=crafted.last_notification_id
        )
        first_of_crafted = next(n.id for n in stored if n.originator_id == broken)
        assert cause["notification_id"] == first_of_crafted  # the position to look at
        assert "BROKEN1" not in json.dumps(body)  # identifiers of the event: never in /health
        # The other read models are not held back by the stuck one.
        assert wait_until(lambda: engine.runner.positions()["queue_v2"] >= head)
        assert engine.runner.positions()["patients_v1"] < first_of_crafted

        if skip:
            from adapters.cli import main

            store = ["--store", durable_store_url]
            assert main(["skip-event", "patients_v1", str(first_of_crafted), *store]) == 0
            # Once past it, the same command is refused: nothing is skipped twice.
            assert wait_until(lambda: answer(app)[0] == 200), answer(app)
            assert main(["skip-event", "patients", str(first_of_crafted), *store]) == 2
        else:
            bug["on"] = False  # the fix is deployed: the same event applies
        assert wait_until(lambda: answer(app)[0] == 200), answer(app)
        assert answer(app)[1]["causes"] == []
        assert wait_until(lambda: engine.runner.positions()["patients_v1"] >= head)
        assert engine.patients.find_by_identifier("OK3")  # what came after it is applied
        # Skipped: the read model lacks the patient (until a replay); fixed: it has them.
        assert (engine.patients.get_patient(str(broken)) is None) is skip
    finally:
        engine.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB file system of its own (tmpfs, as root) that a test can fill."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.fail("mounting a small tmpfs needs root (CI and the dev machines run as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Writes zeros to ``disk`` until it is full; returns the file to delete to free it."""
    filler = disk / "filler"
    with filler.open("wb") as f:
        chunk = b"\0" * (1 << 16)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_under_a_sqlite_store_is_named_until_a_commit_succeeds(
    small_disk: Path,
) -> None:
    import asyncio

    from adapters.writer import GroupCommitWriter

    engine = engine_on(f"sqlite:///{small_disk / 'carelog.db'}")
    writer = GroupCommitWriter(engine.ingestion.ingest_many)
    app = create_app(engine.http_views(), health=health_of(engine, writer))

    async def send(control_id: str) -> str:
        try:
            outcome = await writer.submit(
                adt("A01", control_id, mrn=control_id, visit=f"V{control_id}"), "t"
            )
        except Exception:
            return "failed"  # the commit failed: nothing stored, the sender is not acknowledged
        return outcome.ack_code

    try:
        assert asyncio.run(send("C0")) == "AA"
        assert answer(app)[0] == 200
        filler = fill(small_disk)
        # The WAL takes what it already holds; a few messages more and a commit needs space.
        codes = [asyncio.run(send(f"C{i}")) for i in range(1, 400)]
        assert "failed" in codes, codes[-5:]
        status, body = answer(app)
        assert status == 503, body
        [cause] = body["causes"]
        assert cause["cause"] == "store" and cause["error"], cause
        filler.unlink()
        assert asyncio.run(send("C999")) == "AA"
        assert answer(app)[0] == 200
    finally:
        writer.close()
        engine.close()


@pytest.mark.postgres
def test_a_read_only_postgres_store_is_named_until_writable(postgres_url: str) -> None:
    engine = engine_on(postgres_url)
    app = health_app(engine)

    def read_only(on: bool) -> None:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            if on:
                conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            else:
                conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("SELECT pg_reload_conf()")

    try:
        assert answer(app)[0] == 200
        read_only(True)
        assert wait_until(lambda: answer(app)[0] == 503), answer(app)
        [cause] = answer(app)[1]["causes"]
        assert cause["cause"] == "store" and cause["error"] == "StoreReadOnly"
        read_only(False)
        assert wait_until(lambda: answer(app)[0] == 200), answer(app)
    finally:
        read_only(False)
        engine.close()


def test_settings_read_the_grace_and_the_worker_endpoint() -> None:
    settings = Settings.from_env(
        {"CARELOG_HEALTH_RELAY_GRACE": "2.5", "CARELOG_WORKER_HEALTH": "9465"}
    )
    assert settings.health_relay_grace_s == 2.5 and settings.worker_health == "127.0.0.1:9465"
    assert replace(settings, worker_health="").worker_health == ""
