"""`carelog replay`, `carelog history` and `carelog verify` as a user runs them (subprocesses)."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from engine.config import Settings
from projections.catalog import CATALOG
from tests.e2e.server import carelog_command, run_carelog
from tests.integration.audit.helpers import (
    dump,
    dump_sqlite,
    engine_with_stay,
    execute,
    position_of,
)


def carelog(
    *args: str, store: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_carelog(*args, store=f"sqlite:///{store}", env=env, cwd=store.parent)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A SQLite store holding the scenario, with read models caught up; not sealed yet."""
    path = tmp_path / "carelog.db"
    engine_with_stay(f"sqlite:///{path}").close()
    return path


def test_replay_rebuilds_every_read_model_with_progress(store: Path) -> None:
    before = {spec.key: dump_sqlite(store, spec) for spec in CATALOG}
    result = carelog("replay", store=store)
    assert result.returncode == 0, result.stderr
    names = ", ".join(spec.name for spec in CATALOG)
    assert f"replayed 18 events into {names} in " in result.stdout
    assert re.search(r"replay: 18/18 events", result.stderr)  # plain progress: not a TTY
    assert {spec.key: dump_sqlite(store, spec) for spec in CATALOG} == before
    one = carelog("replay", "--projection", "history", store=store)
    assert one.returncode == 0 and "into history_v1 in" in one.stdout
    assert list(store.parent.glob("*.rebuild.db*")) == []  # the scratch copy is gone

    unknown = carelog("replay", "--projection", "nope", store=store)
    assert unknown.returncode == 2
    assert all(spec.key in unknown.stderr for spec in CATALOG)


def test_replay_with_two_workers_shows_their_progress_and_keeps_the_tables(store: Path) -> None:
    before = {spec.key: dump_sqlite(store, spec) for spec in CATALOG}
    result = carelog("replay", "--workers", "2", store=store)
    assert result.returncode == 0, result.stderr
    assert "replayed 18 events into " in result.stdout
    assert re.search(r"replay: 18/18 events", result.stderr)  # the workers' common progress
    assert "[debug" not in result.stderr and "projection.caught_up" not in result.stderr
    assert {spec.key: dump_sqlite(store, spec) for spec in CATALOG} == before
    assert list(store.parent.glob("*.rebuild.db*")) == []
    for bad in ("0", "two"):
        refused = carelog("replay", "--workers", bad, store=store)
        assert refused.returncode == 2 and "--workers" in refused.stderr


def test_replay_as_of_writes_a_separate_file(store: Path) -> None:
    out = store.parent / "then.db"
    result = carelog("replay", "--as-of", "2000-01-01", "--into", str(out), store=store)
    assert result.returncode == 0, result.stderr
    with contextlib.closing(sqlite3.connect(out)) as db:
        assert db.execute("SELECT count(*) FROM history_v1").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM patients_v1").fetchone() == (0,)
        assert db.execute("SELECT as_of FROM carelog_as_of").fetchone() == (
            "2000-01-01T23:59:59.999999+00:00",
        )
    default = carelog("replay", "--as-of", "2999-01-01T00:00:00Z", store=store)
    assert default.returncode == 0, default.stderr
    (made,) = store.parent.glob("as-of-29990101T000000000000Z.db")
    assert dump_sqlite(made, CATALOG[0]) == dump_sqlite(store, CATALOG[0])
    again = carelog("replay", "--as-of", "2999-01-01T00:00:00Z", store=store)
    assert again.returncode == 2 and "exists" in again.stderr  # never overwritten
    bad = carelog("replay", "--as-of", "last tuesday", store=store)
    assert bad.returncode == 2 and "--as-of" in bad.stderr


def test_history_prints_each_event_with_its_source_message(store: Path) -> None:
    result = carelog("history", "--patient", "HOSP|MRN1", store=store)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 11 event(s)")
    assert "Encounter.Transferred" in lines[5] and "WARD1^101^A -> ICU^1^A" in lines[5]
    assert "source ADT^A02 control id S2 from HIS/HOSP" in lines[6]
    assert "[merged from " in result.stdout
    assert "MSH|" not in result.stdout
    raw = carelog("history", "--patient", "HOSP|MRN1", "--raw", store=store)
    assert "      MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|20240101100000||ADT^A02^ADT_A02|S2|P|2.5.1" in (
        raw.stdout
    )
    patient_id = lines[0].split()[1].rstrip(":")
    early = carelog("history", "--patient", patient_id, "--as-of", "2000-01-01", store=store)
    assert early.returncode == 0 and early.stdout.splitlines()[0].endswith(
        ": 0 event(s) as of 2000-01-01T23:59:59.999999+00:00"
    )
    unknown = carelog("history", "--patient", "HOSP|NOPE", store=store)
    assert unknown.returncode == 1 and "not known" in unknown.stderr


def test_verify_intact_then_tampered(store: Path) -> None:
    url = f"sqlite:///{store}"
    unsealed = carelog("verify", store=store)
    assert unsealed.returncode == 0, unsealed.stdout + unsealed.stderr
    assert "positions 1..18 are not sealed yet" in unsealed.stdout
    # The embedded default made a seal key beside the master key on first start.
    assert "HMAC-SHA256" in unsealed.stdout
    assert (store.parent / "keys" / "seal.key").stat().st_mode & 0o777 == 0o600
    key = {"CARELOG_SEAL_KEY": "test-seal-key"}
    sealed = carelog("verify", "--seal", store=store, env=key)
    assert sealed.returncode == 0 and "sealed 18 record(s) from position 1" in sealed.stdout
    intact = carelog("verify", store=store, env=key)
    assert intact.returncode == 0 and "intact: 18 records" in intact.stdout
    assert "HMAC-SHA256" in intact.stdout and "not sealed" not in intact.stdout

    engine = engine_with_stay(url, ())
    k = position_of(engine, "Encounter.Transferred")
    engine.close()
    (state,) = execute(url, "SELECT state FROM stored_events WHERE rowid=?", (k,))[0]
    flipped = state[:-1] + bytes([state[-1] ^ 1])  # the state is ciphertext: flip a byte
    execute(url, "UPDATE stored_events SET state=? WHERE rowid=?", (flipped, k))
    tampered = carelog("verify", "--seal", store=store, env=key)
    assert tampered.returncode == 1
    assert f"position {k}: altered" in tampered.stdout
    assert f"NOT INTACT: first bad position {k}" in tampered.stdout
    assert "not sealing" in tampered.stdout
    execute(url, "DELETE FROM stored_events WHERE rowid=?", (k - 1,))
    deleted = carelog("verify", store=store, env=key)
    assert deleted.returncode == 1 and f"first bad position {k - 1}" in deleted.stdout
    wrong_key = carelog("verify", store=store, env={"CARELOG_SEAL_KEY": "another"})
    assert wrong_key.returncode == 1 and "first bad position 1" in wrong_key.stdout


def test_commands_refuse_a_store_that_does_not_exist(tmp_path: Path) -> None:
    for command in (["replay"], ["verify"], ["history", "--patient", "x"]):
        result = carelog(*command, store=tmp_path / "none.db")
        assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_replay_draws_a_progress_bar_on_a_terminal(store: Path) -> None:
    import pty

    main, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [*carelog_command(), "replay"],
            env={**os.environ, "CARELOG_STORE": f"sqlite:///{store}", "COLUMNS": "100"},
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=120,
            cwd=store.parent,
        )
        os.close(secondary)
        secondary = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if secondary >= 0:
            os.close(secondary)
        os.close(main)
    assert result.returncode == 0
    text = drawn.decode(errors="replace")
    assert "replay" in text and "18/18" in text and "━" in text  # rich's bar, not plain lines
    assert "events\r\n" not in text


def test_replay_verify_and_history_on_each_store(durable_store_url: str, tmp_path: Path) -> None:
    engine = engine_with_stay(durable_store_url)
    before = {spec.key: dump(durable_store_url, spec) for spec in CATALOG}
    engine.close()
    env = {
        **os.environ,
        "CARELOG_STORE": durable_store_url,
        "CARELOG_LOG_LEVEL": "warning",
        # The keys the engine above used (PostgreSQL: var/keys under its working directory).
        "CARELOG_KEYS_DIR": str(Settings(store=durable_store_url).key_path().resolve()),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*carelog_command(), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )

    replayed = run("replay")
    assert replayed.returncode == 0, replayed.stderr
    assert {spec.key: dump(durable_store_url, spec) for spec in CATALOG} == before
    as_of = run("replay", "--as-of", "2999-01-01", "--into", str(tmp_path / "then.db"))
    assert as_of.returncode == 0, as_of.stderr
    for spec in CATALOG:  # from either store, the same rows in the as-of file
        assert dump_sqlite(tmp_path / "then.db", spec)["position"] == before[spec.key]["position"]
    history = run("history", "--patient", "HOSP|MRN1")
    assert history.returncode == 0 and ": 11 event(s)" in history.stdout
    sealed = run("verify", "--seal")
    assert sealed.returncode == 0 and "sealed 18 record(s)" in sealed.stdout, sealed.stdout
    assert "intact: 18 records" in run("verify").stdout
