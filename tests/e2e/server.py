"""Running `carelog serve` as a real subprocess on free ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A port nothing listens on now (for a server that must come back on the same one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def carelog_command() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "carelog"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "adapters.cli"]  # pragma: no cover - uninstalled checkout


def run_carelog(
    *args: str,
    store: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """One `carelog` command on ``store`` as a user runs it (warnings only on stderr)."""
    return subprocess.run(
        [*carelog_command(), *args],
        env={**os.environ, "CARELOG_STORE": store, "CARELOG_LOG_LEVEL": "warning", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


class LoggedProcess:
    """A `carelog` subprocess whose JSON log lines (stderr) are collected as they come.

    Subclasses build the command line and say which log event means "ready".
    """

    ready_event = ""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}
        self.logs: list[dict[str, Any]] = []
        self.raw_stderr: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def _launch(self, cmd: list[str], timeout: float) -> bool:
        """Starts ``cmd``; True once ``ready_event`` was logged, False on timeout or exit."""
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env
        )
        ready = threading.Event()
        self._drainer = threading.Thread(target=self._drain, args=(ready,), daemon=True)
        self._drainer.start()
        return ready.wait(timeout)

    def _drain(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw_stderr.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            self.logs.append(record)
            if record.get("event") == self.ready_event:
                self._ready(record)
                ready.set()
        ready.set()

    def _ready(self, record: dict[str, Any]) -> None:
        """Reads what the ready line tells (ports, ...); nothing by default."""

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.logs if r.get("event") == name]

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything, as in a power cut or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        """Reads the last log lines, then closes the pipe."""
        if self.proc is not None and self.proc.stderr is not None:
            self._drainer.join(10)
            self.proc.stderr.close()


class ServeProcess(LoggedProcess):
    """`carelog serve` on ports chosen by the OS; its JSON log lines are collected."""

    ready_event = "serve.ready"

    def __init__(
        self,
        store: str,
        *extra: str,
        env: dict[str, str] | None = None,
        mllp_port: int = 0,
        http_port: int = 0,
    ) -> None:
        self.store = store
        self.mllp_port = mllp_port
        self.http_port = http_port
        self.extra = extra
        super().__init__(env)

    def start(self, timeout: float = 30.0) -> ServeProcess:
        cmd = [
            *carelog_command(),
            "serve",
            "--store",
            self.store,
            "--mllp",
            f"127.0.0.1:{self.mllp_port}",
            "--http",
            f"127.0.0.1:{self.http_port}",
            *self.extra,
        ]
        if not self._launch(cmd, timeout):
            self.kill()
            raise AssertionError("carelog serve did not get ready:\n" + "".join(self.raw_stderr))
        return self

    def _ready(self, record: dict[str, Any]) -> None:
        self.mllp_port = int(record["mllp_port"])
        self.http_port = int(record["http_port"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def headers(self) -> dict[str, str]:
        """A full-access bearer token from this server's embedded issuer (tests/tokens.py)."""
        from tests.tokens import bearer_for_store

        return bearer_for_store(self.store)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as an operator or a service manager stops it; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._close()
        return code
