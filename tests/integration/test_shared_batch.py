"""SQLite read models in one file commit a round together, and fall back view by view.

The live runner applies a round of events to every catalog view in ONE
transaction when the views share the store's file (one commit, not one per
view). These tests hold it to that, and to exactly-once when the shared
transaction fails: everything rolls back and each view is caught up on its
own, skipping what it already had.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapters.bootstrap import build, build_view
from engine.config import Settings
from projections.catalog import CATALOG
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario
from tests.integration.audit.helpers import dump_sqlite
from tests.integration.read_models import billing_scenario
from tests.scenario import STAY

MESSAGES = [*STAY, *visit_scenario.ALL, *billing_scenario.MESSAGES]


def _count_commits(views: Any, commits: list[str]) -> None:
    """Wraps each view's datastore so that every committing transaction is counted."""
    for key, view in views.items():
        datastore = view.datastore
        original = datastore.transaction

        @contextmanager
        def counted(*, commit: bool, _original: Any = original, _key: str = key) -> Iterator[Any]:
            if commit:
                commits.append(_key)
            with _original(commit=commit) as c:
                yield c

        datastore.transaction = counted


def test_a_round_commits_once_for_every_view_in_the_file(tmp_path: Path) -> None:
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
    )
    engine.ingestion.on_recorded = engine.runner.offer
    for message in MESSAGES:
        engine.ingestion.ingest(message, "test")
    commits: list[str] = []
    _count_commits(engine.views, commits)
    applied = engine.runner.catch_up()
    assert applied > len(MESSAGES)
    assert len(commits) == 1, commits  # four or more views had events: one commit for all
    assert engine.runner.position == engine.ingestion.recorder.max_notification_id()
    engine.close()


def test_a_failed_shared_round_rolls_back_and_each_view_catches_up_alone(
    tmp_path: Path,
) -> None:
    """Another runner applied some events first: nothing is lost, nothing doubled."""
    store = tmp_path / "c.db"
    engine = build(Settings(store=f"sqlite:///{store}"), validator=FakeMessageValidator())
    for message in MESSAGES[:4]:
        engine.ingestion.ingest(message, "test")
    engine.runner.catch_up()
    before = engine.runner.positions()
    for message in MESSAGES[4:]:
        engine.ingestion.ingest(message, "test")
    # The history view is caught up by someone else, unknown to this runner...
    history = next(s for s in CATALOG if s.key == "history")
    other = PollingProjectionRunner(engine.ingestion, history.project(engine.views["history"]))
    other.catch_up()
    # ...which still believes it is where it was: its round fails on that view's
    # positions, rolls back for every view, and is applied view by view.
    runner = engine.runner
    runner._tracked = lambda projection: before[projection.name]  # type: ignore[method-assign]
    commits: list[str] = []
    _count_commits(engine.views, commits)
    runner.catch_up()
    assert len(commits) > 1  # the shared transaction did not commit: views went alone
    # The same rows as a replay from zero, one view at a time, in another file.
    for spec in CATALOG:
        fresh = tmp_path / f"{spec.key}.db"
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(fresh)}

        view = build_view(spec, engine.settings, env)
        PollingProjectionRunner(engine.ingestion, spec.project(view)).catch_up()
        view.datastore.close()
        assert dump_sqlite(store, spec) == dump_sqlite(fresh, spec), spec.key
    engine.close()
