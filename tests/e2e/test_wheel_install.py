"""A wheel built from the checkout, installed in a fresh venv, runs on its own.

The checkout's carelog finds its message profiles beside the code; an installed
one has no checkout, so this builds the wheel as a user or the Docker image
does, installs it (with its dependencies, from pip's cache where it can) into a
new venv, and runs the console script from an empty directory: `carelog
validate` on a sample, then `carelog serve` on the default store until
/health answers. Slow (about half a minute to two): ``-m "not wheel"`` skips
it locally; `make test` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.messages import adt

pytestmark = [pytest.mark.wheel, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
_NOT_SOURCE = (".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".*_cache", "*.so")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh venv holding carelog from a wheel of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    # A copy of the sources, so the build leaves no build/ or *.egg-info in the checkout.
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    wheels = tmp / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        timeout=300,
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    # setuptools used to print ~120 lines of deprecation warnings here (license table,
    # native/src seen as a package): the build must stay quiet of them.
    assert "Warning" not in built.stdout + built.stderr, built.stdout + built.stderr
    (wheel,) = wheels.glob("carelog-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        timeout=600,
        cwd=tmp,
    )
    return venv / "bin"


def _env() -> dict[str, str]:
    """The environment without this checkout's venv or sources on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env


def test_the_installed_validate_finds_its_profiles(installed: Path, tmp_path: Path) -> None:
    good = tmp_path / "a01.hl7"
    good.write_bytes(adt("A01", "1"))
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(adt("A01", "2", pv1=False))
    result = subprocess.run(
        [str(installed / "carelog"), "validate", good.name, bad.name],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=_env(),
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "bad.hl7:1:PV1[0]: 100 a required segment is missing (PV1)"
    ]
    located = subprocess.run(
        [str(installed / "python"), "-c", "import native.profiles as p; print(p.DEFAULT_SCHEMAS)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=_env(),
    )
    assert located.stdout.strip().startswith(str(installed.parent)), located.stdout


@pytest.fixture
def served(installed: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`carelog serve` from the venv in an empty directory, on the default store.

    Only the listeners move to free ports (port 0; the `serve.ready` line says
    which): the default ports may be taken by another carelog on this machine.
    """
    env = {**_env(), "CARELOG_MLLP": "127.0.0.1:0", "CARELOG_HTTP": "127.0.0.1:0"}
    proc = subprocess.Popen(
        [str(installed / "carelog"), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        http_port = 0
        for line in proc.stderr:  # ends when serve exits
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "serve.ready":
                http_port = int(record["http_port"])
                break
        assert http_port, "carelog serve exited before serve.ready"
        yield proc, http_port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        if proc.stderr is not None:
            proc.stderr.close()


def test_the_installed_serve_runs_on_the_defaults(
    served: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    proc, http_port = served
    # serve.ready is logged once both listeners are bound: /health answers at once.
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=10) as r:
        health = json.loads(r.read())
    assert health.get("ready") is True and health.get("store") == "sqlite", health
    assert (tmp_path / "var" / "carelog.db").exists()  # the default store, in the cwd
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
