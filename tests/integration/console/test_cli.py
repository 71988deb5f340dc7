"""`carelog reprocess` and `carelog prune-messages` on a SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bootstrap import build
from adapters.cli import main
from engine.config import Settings
from projections.messages import LogFilter
from tests.fakes import FakeMessageValidator
from tests.messages import adt


def test_reprocess_by_visit_then_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    engine = build(Settings(store=store), validator=FakeMessageValidator())
    refused = engine.ingestion.ingest(adt("A02", "C2", visit="V9", location="XRAY^1"), "t")
    assert refused.ack_code == "AE"
    engine.runner.catch_up()
    engine.close()

    assert main(["reprocess", "--visit", "V9", "--store", store, "--by", "ops"]) == 1
    assert f"{refused.rejected_id} AE" in capsys.readouterr().out  # no A01 yet: still refused

    engine = build(Settings(store=store), validator=FakeMessageValidator())
    assert engine.ingestion.ingest(adt("A01", "C1", visit="V9"), "t").ack_code == "AA"
    engine.close()
    assert main(["reprocess", "--visit", "V9", "--store", store, "--by", "ops"]) == 0
    assert f"{refused.rejected_id} AA" in capsys.readouterr().out
    assert main(["reprocess", "--store", store]) == 2  # neither ids nor a filter

    assert main(["prune-messages", "--days", "1", "--store", store]) == 0
    assert capsys.readouterr().out.startswith("0 message log entries")
    engine = build(Settings(store=store), validator=FakeMessageValidator())
    engine.runner.catch_up()
    assert len(engine.views["messages"].search(LogFilter())) == 4
    engine.close()
