"""The runner's ``min_interval_s``: nudges under load coalesce, and none is lost."""

from __future__ import annotations

import threading
import time

from engine.application.ingestion import Ingestion
from projections.patients import MemoryPatientView, PatientProjection
from projections.runner import PollingProjectionRunner
from tests.messages import adt


class _CountingRunner(PollingProjectionRunner):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rounds = 0
        self.first_round = threading.Event()

    def catch_up(self) -> int:
        self.rounds += 1
        self.first_round.set()
        return super().catch_up()


def _ingest(app: Ingestion, n: int) -> None:
    app.ingest(adt("A01", f"C{n}", mrn=f"MRN{n}", visit=f"V{n}"), "test")


def _run(app: Ingestion, min_interval_s: float) -> tuple[_CountingRunner, MemoryPatientView]:
    view = MemoryPatientView()
    runner = _CountingRunner(
        app, PatientProjection(view), poll_interval_s=30.0, min_interval_s=min_interval_s
    )
    runner.start()
    assert runner.first_round.wait(5)  # the start-up round, before any message
    for n in range(20):  # a commit, then its nudge, every 10 ms
        _ingest(app, n)
        runner.nudge()
        time.sleep(0.01)
    return runner, view


def test_nudges_within_the_interval_make_one_round(app: Ingestion) -> None:
    runner, view = _run(app, min_interval_s=0.5)
    try:
        # 20 nudges in ~0.2 s, all inside one interval: one more round, after it.
        assert runner.rounds == 1
        deadline = time.monotonic() + 5
        while runner.position < app.recorder.max_notification_id() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.rounds == 2  # the last nudge was not lost: polling is 30 s away
        assert len(view.find_by_identifier("MRN19", "HOSP")) == 1
    finally:
        runner.stop()


def test_without_an_interval_every_nudge_may_start_a_round(app: Ingestion) -> None:
    runner, _ = _run(app, min_interval_s=0.0)
    try:
        time.sleep(0.1)
        assert runner.rounds > 5
    finally:
        runner.stop()
