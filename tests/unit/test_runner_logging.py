"""A failing projection is reported by the error's type, never by its text (PHI)."""

from __future__ import annotations

import time
from typing import Any

from structlog.testing import capture_logs

from engine.application.ingestion import Ingestion
from projections.patients import MemoryPatientView, PatientProjection
from projections.runner import PollingProjectionRunner
from tests.conftest import sample


class _Failing(PatientProjection):
    def process_event(self, domain_event: Any, tracking: Any) -> None:
        raise ValueError("Key (value)=(123456) already exists")


def test_a_failing_projection_logs_no_row_values(app: Ingestion) -> None:
    app.ingest(sample("adt_a01.hl7"), "test")
    runner = PollingProjectionRunner(app, _Failing(MemoryPatientView()), poll_interval_s=0.05)
    with capture_logs() as logs:
        runner.start()
        deadline = time.monotonic() + 5
        while runner.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        runner._stop.set()
        runner._nudge.set()
        assert runner._thread is not None
        runner._thread.join(5)
    failed = [e for e in logs if e["event"] == "projection.failed"]
    assert failed and failed[0]["error"] == "ValueError"
    assert "123456" not in repr(logs)
