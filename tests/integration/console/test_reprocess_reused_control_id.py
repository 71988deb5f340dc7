"""A message refused for reusing a control id (AE 205) is in the message log, and is
resubmitted under a new MSH-10: by `carelog reprocess --new-control-id`, or by the
console's edit-and-resend with MSH-10 changed. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bootstrap import Engine, build
from adapters.cli import main
from adapters.reprocess import reprocess, with_control_id
from engine.config import Settings
from engine.domain.encounter import FINISHED
from native import NativeMessageValidator
from tests.messages import adt
from tests.unit.test_adt_scenarios import PATIENT

pytestmark = pytest.mark.native


def _engine(store_url: str) -> Engine:
    return build(Settings(store=store_url), validator=NativeMessageValidator())


def _refused_a03(engine: Engine) -> str:
    """A01 under R1, then an A03 that reuses R1: AE 205, kept in the log, nothing applied."""
    assert engine.ingestion.ingest(adt("A01", "R1"), "t").ack_code == "AA"
    refused = engine.ingestion.ingest(adt("A03", "R1", discharge_time="20240101150000"), "t")
    assert (refused.ack_code, [f.code for f in refused.faults]) == ("AE", [205])
    engine.runner.catch_up()
    entry = engine.views["messages"].entry(str(refused.rejected_id))
    assert entry is not None and entry.control_id == "R1"
    assert entry.cause == "CONTROL_ID_REUSED MSH-10"
    return str(refused.rejected_id)


def _status(engine: Engine) -> str:
    engine.runner.catch_up()
    (visit,) = engine.views["encounters"].visits(str(PATIENT))
    return str(visit.status)


def test_the_console_edit_with_a_new_msh_10_applies_it(durable_store_url: str) -> None:
    engine = _engine(durable_store_url)
    entry_id = _refused_a03(engine)
    kw = {"load": engine.ingestion.current, "ingest": engine.ingestion.ingest}
    log = engine.views["messages"]
    # As it is: refused again, 205 again, the visit still in progress.
    again = reprocess(entry_id, "ops", log=log, **kw)  # type: ignore[arg-type]
    assert again.ack_code == "AE" and _status(engine) != FINISHED
    # The console's edit form with MSH-10 changed by hand (what the operator does).
    original = adt("A03", "R1", discharge_time="20240101150000")
    edited = original.replace(b"|R1|P|", b"|R1-B|P|", 1)
    attempt = reprocess(entry_id, "ops", log=log, edited=edited, **kw)  # type: ignore[arg-type]
    assert attempt.ack_code == "AA" and not attempt.duplicate
    assert _status(engine) == FINISHED
    engine.runner.catch_up()
    new = log.entry(attempt.new_entry)
    assert new is not None and new.control_id == "R1-B" and new.reprocess_of == entry_id
    assert new.channel.startswith(f"edit:{entry_id}:")
    engine.close()


def test_reprocess_new_control_id_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    engine = _engine(store)
    entry_id = _refused_a03(engine)
    engine.close()
    assert main(["reprocess", entry_id, "--store", store, "--by", "ops"]) == 1
    assert f"{entry_id} AE" in capsys.readouterr().out  # as it is: 205 again
    assert main(["reprocess", "--new-control-id", "R1-B", "--mrn", "MRN1", "--store", store]) == 2
    assert "exactly one entry id" in capsys.readouterr().err
    args = ["reprocess", entry_id, "--new-control-id", "R1-B", "--store", store, "--by", "ops"]
    assert main(args) == 0
    assert f"{entry_id} AA" in capsys.readouterr().out
    engine = _engine(store)
    assert _status(engine) == FINISHED
    engine.close()


def test_with_control_id_changes_msh_10_only() -> None:
    raw = adt("A03", "R1")
    new = with_control_id(raw, "R1-B")
    assert new == raw.replace(b"|R1|P|", b"|R1-B|P|", 1)
    assert with_control_id(b"MSH|^~\\&|A\r", "X") == b"MSH|^~\\&|A|||||||X\r"
    for bad in ("", "A|B", "A^B", "x" * 200):
        with pytest.raises(ValueError, match="MSH-10"):
            with_control_id(raw, bad)
    with pytest.raises(ValueError, match="MSH segment"):
        with_control_id(b"PID|1", "X")
