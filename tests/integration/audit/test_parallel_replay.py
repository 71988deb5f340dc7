"""Replay in several worker processes: the same tables as one process, one swap, clear failures.

Each worker builds its group of read models into a scratch file of its own;
the parent swaps them all in with one transaction. These tests force two
workers (a small history would otherwise be rebuilt in one process).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from adapters.bootstrap import build_view
from projections.catalog import CATALOG, ProjectionSpec, spec_for
from projections.history import HistoryProjection
from projections.rebuild import AS_OF_TABLE, build_sqlite, rebuild_in_place, rebuild_sqlite
from projections.replay_feed import AsOf
from projections.replay_workers import REPLAY_COST, RebuildError, plan_groups
from tests.integration.audit.helpers import dump, dump_sqlite, engine_with_stay

FAIL_AT = 5  # the scenario has more events than this


class _FailingHistory(HistoryProjection):
    """History, raising at event ``FAIL_AT`` (importable, so a spawned worker can run it)."""

    name = HistoryProjection.name

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if tracking.notification_id >= FAIL_AT:
            raise RuntimeError(f"injected failure at {tracking.notification_id}")
        super().process_event(domain_event, tracking)


class _DyingHistory(HistoryProjection):
    """History, whose worker process is killed (SIGKILL) at event ``FAIL_AT``."""

    name = HistoryProjection.name

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if tracking.notification_id >= FAIL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
        super().process_event(domain_event, tracking)


def _all(path: Path) -> dict[str, Any]:
    return {spec.key: dump_sqlite(path, spec) for spec in CATALOG}


def _rebuild_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".rebuild.db" in p.name)


def test_plan_groups_balances_by_cost_and_keeps_every_read_model_once() -> None:
    specs = list(CATALOG)
    groups = plan_groups(specs, 2)
    assert len(groups) == 2
    assert sorted(s.key for g in groups for s in g) == sorted(s.key for s in specs)
    loads = sorted(sum(REPLAY_COST[s.key] for s in g) for g in groups)
    assert loads[1] - loads[0] <= max(REPLAY_COST.values()) / 2  # no group carries most of it
    assert [len(g) for g in plan_groups(specs, 64)] == [1] * len(specs)  # one per read model
    assert plan_groups(specs, 1) == [specs]  # one process: the catalog's order


def test_two_workers_build_the_same_tables_as_one_process(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    engine = engine_with_stay(f"sqlite:///{store}")
    head = engine.ingestion.recorder.max_notification_id()
    live = _all(store)
    assert rebuild_sqlite(engine.ingestion, list(CATALOG), store, workers=1) == head
    one_process = _all(store)
    seen: list[tuple[int, int]] = []
    assert (
        rebuild_sqlite(
            engine.ingestion,
            list(CATALOG),
            store,
            workers=2,
            progress=lambda done, total: seen.append((done, total)),
        )
        == head
    )
    assert _all(store) == one_process == live
    assert seen[-1] == (head, head)  # progress reaches the head
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # and never goes back
    assert {t for _, t in seen} == {head}
    assert _rebuild_files(tmp_path) == []  # every scratch file removed
    # The live runner goes on from the swapped-in positions.
    assert engine.runner.catch_up() == 0
    engine.close()


def test_two_workers_build_the_same_as_of_file(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    engine = engine_with_stay(f"sqlite:///{store}")
    events = engine.ingestion.recorder.select_notifications(1, 10_000)
    middle = engine.ingestion.mapper.to_domain_event(events[len(events) // 2]).timestamp
    as_of = AsOf(middle)
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    build_sqlite(engine.ingestion, list(CATALOG), one, as_of=as_of, workers=1)
    build_sqlite(engine.ingestion, list(CATALOG), two, as_of=as_of, workers=2)
    assert _all(two) == _all(one) != _all(store)
    with sqlite3.connect(one) as a, sqlite3.connect(two) as b:
        row = f"SELECT as_of, by, head, projections FROM {AS_OF_TABLE}"
        assert a.execute(row).fetchall() == b.execute(row).fetchall()
    assert sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name) == []
    engine.close()


@pytest.mark.parametrize("projection", [_FailingHistory, _DyingHistory], ids=["raises", "killed"])
def test_a_failing_worker_fails_the_replay_and_leaves_the_live_tables(
    tmp_path: Path, projection: type
) -> None:
    store = tmp_path / "carelog.db"
    engine = engine_with_stay(f"sqlite:///{store}")
    before = _all(store)
    broken: ProjectionSpec = dataclasses.replace(spec_for("history"), projection=projection)
    specs = [broken if s.key == "history" else s for s in CATALOG]
    with pytest.raises(RebuildError, match="history_v1") as failed:
        rebuild_sqlite(engine.ingestion, specs, store, workers=2)
    # the event and the error's class, never its text (a driver's message can quote row values)
    reason = "failed on notification" if projection is _FailingHistory else "exited with code -9"
    assert reason in str(failed.value)
    assert "unchanged" in str(failed.value)
    assert _all(store) == before
    assert _rebuild_files(tmp_path) == []
    out = tmp_path / "as-of.db"
    with pytest.raises(RebuildError, match="history_v1"):
        build_sqlite(engine.ingestion, specs, out, workers=2)
    assert not out.exists()  # no half-built file to mistake for an answer
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("as-of")] == []
    engine.close()


@pytest.mark.postgres
def test_two_workers_rebuild_postgresql_in_place(postgres_url: str) -> None:
    engine = engine_with_stay(postgres_url)
    head = engine.ingestion.recorder.max_notification_id()
    live = {spec.key: dump(postgres_url, spec) for spec in CATALOG}
    settings = engine.settings
    make_view = functools.partial(build_view, settings=settings, env=settings.eventsourcing_env())
    seen: list[int] = []
    replayed = rebuild_in_place(
        engine.ingestion,
        list(CATALOG),
        engine.views,
        make_view,
        workers=2,
        progress=lambda done, total: seen.append(done),
    )
    assert replayed == head and seen[-1] == head
    assert {spec.key: dump(postgres_url, spec) for spec in CATALOG} == live
    broken = dataclasses.replace(spec_for("history"), projection=_FailingHistory)
    with pytest.raises(RebuildError, match=r"history_v1 failed on notification \d+: RuntimeError"):
        rebuild_in_place(
            engine.ingestion, [broken, spec_for("patients")], engine.views, make_view, workers=2
        )
    engine.close()
