"""Messages nobody here wrote, through `carelog validate` and ingest (tests/data/hl7/public).

Every message of the corpus must be answered (AA, AE or AR), and every answer must
be the one tests/data/hl7/public/expected.json records, where each AE and AR
carries the reason it was reviewed for: a fault of the message, not carelog's.
A change of answer fails the test: review it, then update the file.

Each message is ingested on its own fresh SQLite store (in-process), so that the
corpus's many reused control ids (their tests copy one header) do not make one
message a duplicate of another.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main
from adapters.crypto.setup import prepare_keys
from engine.application.ingestion import Ingestion
from engine.config import Settings
from engine.hl7.stream import split_messages
from native import NativeMessageValidator
from tests.fakes import FixedClock

pytestmark = pytest.mark.native

CORPUS = Path(__file__).resolve().parents[1] / "data" / "hl7" / "public"
EXPECTED: list[dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))[
    "answers"
]


def _messages() -> list[tuple[str, int, bytes]]:
    out = []
    for path in sorted(CORPUS.rglob("*.hl7")):
        for number, raw in enumerate(split_messages(path.read_bytes()), 1):
            out.append((path.relative_to(CORPUS).as_posix(), number, raw))
    return out


MESSAGES = _messages()
_STORE_CODES = ("204", "207")


def answer(raw: bytes, work: Path) -> dict[str, Any]:
    """What `carelog validate` (its exit status) and ingest (serve's validator and
    settings, a fresh SQLite store under work) say about one message."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "m.hl7").write_bytes(raw)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        valid = main(["validate", str(work / "m.hl7")]) == 0
    settings = Settings(store=f"sqlite:///{work / 'store' / 'carelog.db'}")
    (work / "store").mkdir(exist_ok=True)
    settings = prepare_keys(settings)  # encrypted at rest, as `serve` makes the keys
    validator = NativeMessageValidator(**settings.validator_limits())
    app = Ingestion(
        settings.eventsourcing_env(),
        validator=validator,
        clock=FixedClock(),
        processing_ids=settings.processing_ids,
    )
    try:
        outcome = app.ingest(raw, "corpus")
    finally:
        app.close()
    return {
        "validate": "valid" if valid else "invalid",
        "ack": outcome.ack_code,
        "faults": [f"{f.code} {f.rule} {f.location()}" for f in outcome.faults],
    }


def test_the_expected_file_lists_every_message_once() -> None:
    listed = [(e["file"], e["message"]) for e in EXPECTED]
    assert listed == [(f, n) for f, n, _ in MESSAGES]
    for entry in EXPECTED:
        if entry["ack"] != "AA":
            assert entry.get("reason", "").strip(), f"{entry['file']}: AE/AR without a reason"


@pytest.mark.parametrize(
    ("entry", "raw"),
    [(e, raw) for e, (_f, _n, raw) in zip(EXPECTED, MESSAGES, strict=False)],
    ids=[f"{e['file']}#{e['message']}" for e in EXPECTED],
)
def test_each_message_gets_its_reviewed_answer(
    entry: dict[str, Any], raw: bytes, tmp_path: Path
) -> None:
    got = answer(raw, tmp_path)
    assert got["ack"] in ("AA", "AE", "AR")
    # validate and ingest agree: a message validate passes is accepted, unless what it
    # names conflicts with the store (204 unknown visit or patient, 207 a state the
    # trigger does not fit), which only ingest can know.
    store_only = bool(got["faults"]) and all(f[:3] in _STORE_CODES for f in got["faults"])
    assert (got["validate"] == "valid") == (got["ack"] == "AA" or store_only)
    assert got == {k: entry[k] for k in ("validate", "ack", "faults")}
