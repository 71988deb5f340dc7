"""Replay from zero, for every read model in the catalog, on SQLite and PostgreSQL.

The live state (caught up event by event as messages arrive) and the replayed
state must be the same rows and the same position; replaying again changes
nothing; a crash inside a batch, between rows and position, neither loses nor
doubles an event.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from adapters.bootstrap import Engine, build, build_view
from engine.config import Settings
from projections.catalog import CATALOG, ProjectionSpec
from projections.rebuild import build_sqlite, rebuild_in_place, rebuild_sqlite
from projections.runner import PollingProjectionRunner, ProjectionFailed
from projections.sqlite_swap import scratch_path
from tests.fakes import FakeMessageValidator
from tests.integration.audit.helpers import dump, dump_sqlite, engine_with_stay
from tests.scenario import STAY

SPECS = [pytest.param(spec, id=spec.key) for spec in CATALOG]
ROOT = Path(__file__).resolve().parents[3]


def replay(engine: Engine, specs: list[ProjectionSpec]) -> int:
    """What `carelog replay` does, on the engine's backend."""
    settings = engine.settings
    if settings.backend == "sqlite":
        return rebuild_sqlite(engine.ingestion, specs, settings.sqlite_path())
    env = settings.eventsourcing_env()
    return rebuild_in_place(
        engine.ingestion, specs, engine.views, lambda s: build_view(s, settings, env)
    )


@pytest.mark.parametrize("spec", SPECS)
def test_replay_from_zero_equals_the_live_state(durable_store_url: str, spec: Any) -> None:
    engine = engine_with_stay(durable_store_url)
    head = engine.ingestion.recorder.max_notification_id()
    live = dump(durable_store_url, spec)
    assert live["position"], "the scenario should move this read model's position"
    assert any(live[t] for t in spec.tables), "the scenario should give this read model rows"

    assert replay(engine, [spec]) == head
    assert dump(durable_store_url, spec) == live
    assert replay(engine, [spec]) == head  # replaying twice changes nothing
    assert dump(durable_store_url, spec) == live
    engine.close()


def test_replay_of_all_keeps_the_live_runner_working(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url, STAY[:3])
    replay(engine, list(CATALOG))
    for message in STAY[3:]:  # the live runner goes on from the replayed position
        engine.ingestion.ingest(message, "test")
    assert engine.runner.catch_up() > 0
    expected = {spec.key: dump(durable_store_url, spec) for spec in CATALOG}
    replay(engine, list(CATALOG))
    assert {spec.key: dump(durable_store_url, spec) for spec in CATALOG} == expected
    engine.close()


def _positions(engine: Engine, spec: ProjectionSpec) -> list[int]:
    """The positions ``spec``'s projection applies (all, without topics)."""
    topics = set(spec.projection.topics)
    return [
        n.id
        for n in engine.ingestion.recorder.select_notifications(1, 10_000)
        if not topics or n.topic in topics
    ]


def _middle_position(engine: Engine, spec: ProjectionSpec) -> int:
    """A position in the middle of those ``spec``'s projection applies."""
    ids = _positions(engine, spec)
    return ids[len(ids) // 2]


class _Crash(Exception):
    pass


def _crashing(spec: ProjectionSpec, at: int) -> type:
    """``spec``'s projection, failing inside its transaction after writing event ``at``'s rows."""

    class Crashing(spec.projection):  # type: ignore[misc, valid-type, name-defined]
        armed = True

        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            super().process_event(domain_event, tracking)
            if tracking.notification_id == at and Crashing.armed:
                raise _Crash(f"crash after the rows of {at}")

    Crashing.name = spec.name
    return Crashing


@pytest.mark.parametrize("spec", SPECS)
def test_a_crash_inside_a_batch_neither_loses_nor_doubles(
    durable_store_url: str, spec: Any
) -> None:
    engine = build(Settings(store=durable_store_url), validator=FakeMessageValidator())
    for message in STAY:
        engine.ingestion.ingest(message, "test")
    at = _middle_position(engine, spec)
    view = engine.views[spec.key]
    crashing = _crashing(spec, at)
    runner = PollingProjectionRunner(engine.ingestion, crashing(view))
    with pytest.raises(ProjectionFailed) as failed:
        runner.catch_up()  # the batch rolls back; one by one, the runner stops at ``at``
    assert failed.value.notification_id == at and isinstance(failed.value.__cause__, _Crash)
    # One by one, ``at``'s own transaction commits before the injected crash: at most ``at``.
    assert (view.max_tracking_id("carelog") or 0) <= at
    crashing.armed = False
    runner.catch_up()
    assert view.max_tracking_id("carelog") == _positions(engine, spec)[-1]
    crashed = dump(durable_store_url, spec)
    replay(engine, [spec])
    assert dump(durable_store_url, spec) == crashed
    engine.close()


_KILLER = """
import os, signal, sys
from adapters.bootstrap import build
from engine.config import Settings
from projections.catalog import spec_for
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator

store, key, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = build(Settings(store=store), validator=FakeMessageValidator())
spec = spec_for(key)

class Dying(spec.projection):
    def process_event(self, event, tracking):
        super().process_event(event, tracking)
        if tracking.notification_id == at:  # rows written, transaction not committed
            os.kill(os.getpid(), signal.SIGKILL)

Dying.name = spec.name
PollingProjectionRunner(engine.ingestion, Dying(engine.views[key])).catch_up()
"""


@pytest.mark.parametrize("spec", SPECS)
def test_kill_9_between_rows_and_position_neither_loses_nor_doubles(
    durable_store_url: str, spec: Any
) -> None:
    engine = build(Settings(store=durable_store_url), validator=FakeMessageValidator())
    for message in STAY:
        engine.ingestion.ingest(message, "test")
    at = _middle_position(engine, spec)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, durable_store_url, spec.key, str(at)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    view = engine.views[spec.key]
    assert (view.max_tracking_id("carelog") or 0) < at
    PollingProjectionRunner(engine.ingestion, spec.project(view)).catch_up()
    after_crash = dump(durable_store_url, spec)
    replay(engine, [spec])
    assert dump(durable_store_url, spec) == after_crash
    engine.close()


def test_scratch_build_equals_the_sqlite_store(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    engine = engine_with_stay(f"sqlite:///{store}")
    out = tmp_path / "copy.db"
    build_sqlite(engine.ingestion, list(CATALOG), out)
    for spec in CATALOG:
        assert dump_sqlite(out, spec) == dump_sqlite(store, spec)
    with pytest.raises(FileExistsError):  # never overwrites an earlier build
        build_sqlite(engine.ingestion, list(CATALOG), out)
    engine.close()


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_events_arriving_during_a_sqlite_rebuild_are_in_the_swapped_tables(
    tmp_path: Path, workers: int
) -> None:
    # The live runner applies late events to the old tables (its in-memory position
    # moves past the rebuild's head); the swap must still hold them.
    store = tmp_path / "carelog.db"
    engine = engine_with_stay(f"sqlite:///{store}", STAY[:4])
    late = list(STAY[4:])

    def meanwhile(done: int, head: int) -> None:
        while late:
            engine.ingestion.ingest(late.pop(0), "test")
        engine.runner.catch_up()

    head = rebuild_sqlite(
        engine.ingestion, list(CATALOG), store, progress=meanwhile, workers=workers
    )
    assert not late  # the events did arrive during the rebuild
    assert head == engine.ingestion.recorder.max_notification_id()
    engine.runner.catch_up()
    fresh = tmp_path / "fresh.db"
    build_sqlite(engine.ingestion, list(CATALOG), fresh)
    for spec in CATALOG:
        assert dump_sqlite(store, spec) == dump_sqlite(fresh, spec), spec.key
    engine.close()


def test_scratch_copies_are_per_process_and_stale_ones_removed(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    stale = tmp_path / "carelog.replay-999999999.rebuild.db"  # no such process
    stale.write_bytes(b"left by a killed replay")
    running = tmp_path / f"carelog.replay-{os.getppid()}.rebuild.db"  # a live process's
    running.write_bytes(b"in use")
    with scratch_path(store, "replay") as path:
        assert str(os.getpid()) in path.name and not path.exists()
        path.write_bytes(b"mine")
    assert not path.exists() and not stale.exists() and running.exists()
