"""The command-line tools print their results, not log lines, unless asked.

`history`, `verify`, `replay`, `validate` and `send` are run as a user runs them
(subprocesses, no CARELOG_LOG_LEVEL): stderr holds no JSON log line. With
``--verbose`` or CARELOG_LOG_LEVEL the log lines come back, so the quiet run is
quiet by choice and not because nothing was logged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import carelog_command
from tests.integration.audit.helpers import engine_with_stay
from tests.messages import adt


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*carelog_command(), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def _log_lines(stderr: str) -> list[dict[str, object]]:
    found = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "event" in record:
            found.append(record)
    return found


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "carelog.db"
    engine_with_stay(f"sqlite:///{path}").close()
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["history", "--patient", "HOSP|MRN1"],
        ["verify"],
        ["replay"],
    ],
    ids=["history", "verify", "replay"],
)
def test_audit_tools_are_quiet_unless_asked(store: Path, command: list[str]) -> None:
    env = {"CARELOG_STORE": f"sqlite:///{store}"}
    quiet = _run(*command, cwd=store.parent, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert _log_lines(quiet.stderr) == [], quiet.stderr
    assert quiet.stdout or quiet.stderr  # the human output is still there
    verbose = _run(*command, "--verbose", cwd=store.parent, env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert _log_lines(verbose.stderr), verbose.stderr
    by_level = _run(*command, cwd=store.parent, env={**env, "CARELOG_LOG_LEVEL": "info"})
    assert _log_lines(by_level.stderr), by_level.stderr
    assert quiet.stdout.count("\n") == verbose.stdout.count("\n")  # logs never go to stdout


@pytest.mark.native
def test_validate_is_quiet_and_honours_carelog_schemas(tmp_path: Path) -> None:
    sample = tmp_path / "a01.hl7"
    sample.write_bytes(adt("A01", "1"))
    ok = _run("validate", str(sample), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert _log_lines(ok.stderr) == [] and "1 message(s), 0 invalid" in ok.stderr
    # A profile directory without ADT_A01: the same message is now an unknown structure.
    schemas = tmp_path / "schemas"
    source = Path(__file__).resolve().parents[3] / "schemas" / "hl7v2"
    (schemas / "messages").mkdir(parents=True)
    for name in ("segments.json", "tables.json"):
        (schemas / name).write_bytes((source / name).read_bytes())
    for profile in (source / "messages").glob("*.json"):
        if profile.name != "ADT_A01.json":
            (schemas / "messages" / profile.name).write_bytes(profile.read_bytes())
    refused = _run("validate", str(sample), cwd=tmp_path, env={"CARELOG_SCHEMAS": str(schemas)})
    assert refused.returncode == 1 and ": 20" in refused.stdout, refused.stdout + refused.stderr
    missing = _run("validate", str(sample), cwd=tmp_path, env={"CARELOG_SCHEMAS": "nowhere"})
    assert missing.returncode == 2 and "CARELOG_SCHEMAS" in missing.stderr


@pytest.fixture
def bare_receiver() -> Iterator[int]:
    """The bench's bare MLLP server (fixed AA, real socket): something to send to."""
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.peers", "bare", "--port", "0"],
        cwd=root,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        ready = json.loads(proc.stderr.readline())
        yield int(ready["mllp_port"])
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_send_prints_its_summary_only(tmp_path: Path, bare_receiver: int) -> None:
    sample = tmp_path / "a01.hl7"
    sample.write_bytes(adt("A01", "1"))
    sent = _run("send", str(sample), "--to", f"127.0.0.1:{bare_receiver}", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "sent=1 AA=1 AE=0 AR=0 errors=0"
    assert _log_lines(sent.stderr) == []
