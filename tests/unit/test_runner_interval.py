"""The runner's ``min_interval_s``: nudges under load coalesce, and none is lost.

The interval's end is driven by the test (``_rest`` waits for a gate instead of
the clock), so what each round saw does not depend on the machine's speed.
"""

from __future__ import annotations

import threading
from typing import Any

from engine.application.ingestion import Ingestion
from projections.patients import MemoryPatientView, PatientProjection
from projections.runner import PollingProjectionRunner
from tests.messages import adt

WAIT_S = 10  # a bound on waits for the runner's thread, never reached when all is well


class _CountingRunner(PollingProjectionRunner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rounds = 0
        self.round_done = threading.Condition()
        self.resting = threading.Event()  # set while the runner rests between rounds
        self.rest_over = threading.Event()  # the test ends the interval

    def catch_up(self) -> int:
        applied = super().catch_up()
        with self.round_done:
            self.rounds += 1
            self.round_done.notify_all()
        return applied

    def _rest(self) -> None:
        self.resting.set()
        self.rest_over.wait(WAIT_S)
        self.rest_over.clear()
        self.resting.clear()

    def wait_rounds(self, n: int) -> bool:
        with self.round_done:
            return self.round_done.wait_for(lambda: self.rounds >= n, WAIT_S)


def _ingest(app: Ingestion, n: int) -> None:
    app.ingest(adt("A01", f"C{n}", mrn=f"MRN{n}", visit=f"V{n}"), "test")


def _runner(app: Ingestion, min_interval_s: float) -> tuple[_CountingRunner, MemoryPatientView]:
    view = MemoryPatientView()
    runner = _CountingRunner(
        app, PatientProjection(view), poll_interval_s=30.0, min_interval_s=min_interval_s
    )
    return runner, view


def test_nudges_within_the_interval_make_one_round(app: Ingestion) -> None:
    runner, view = _runner(app, min_interval_s=0.5)
    runner.start()
    try:
        assert runner.resting.wait(WAIT_S)  # the start-up round is done; the interval runs
        for n in range(20):  # commits and their nudges, all inside the interval
            _ingest(app, n)
            runner.nudge()
        assert runner.rounds == 1  # none of them started a round of its own
        runner.rest_over.set()  # the interval ends
        assert runner.wait_rounds(2)  # one round for all 20: polling is 30 s away
        assert runner.resting.wait(WAIT_S)
        assert runner.rounds == 2
        assert runner.position == app.recorder.max_notification_id()  # the last nudge not lost
        assert len(view.find_by_identifier("MRN19", "HOSP")) == 1
    finally:
        runner.rest_over.set()
        runner.stop()


def test_without_an_interval_every_nudge_may_start_a_round(app: Ingestion) -> None:
    runner, view = _runner(app, min_interval_s=0.0)
    runner.start()
    try:
        assert runner.wait_rounds(1)
        for n in range(5):  # each nudge is served at once, not at the poll 30 s away
            _ingest(app, n)
            runner.nudge()
            assert runner.wait_rounds(2 + n)
        assert not runner.resting.is_set()  # no interval was waited
        assert len(view.find_by_identifier("MRN4", "HOSP")) == 1
    finally:
        runner.stop()
