"""Running `carelog worker` as a real subprocess, for the scale-out tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from typing import Any

from tests.e2e.server import carelog_command


class WorkerProcess:
    """`carelog worker` on a store and a broker; its JSON log lines are collected."""

    def __init__(self, store: str, servers: str, env: dict[str, str] | None = None) -> None:
        self.store = store
        self.servers = servers
        self.env = {**os.environ, **(env or {})}
        self.logs: list[dict[str, Any]] = []
        self.raw_stderr: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        cmd = [*carelog_command(), "worker", "--store", self.store, "--kafka", self.servers]
        self.logs, self.raw_stderr = [], []
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env
        )
        ready = threading.Event()
        self._drainer = threading.Thread(target=self._drain, args=(ready,), daemon=True)
        self._drainer.start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            self.kill()
            raise AssertionError("carelog worker did not start:\n" + "".join(self.raw_stderr))
        return self

    def _drain(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw_stderr.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            self.logs.append(record)
            if record.get("event") == "worker.ready":
                ready.set()
        ready.set()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to commit offsets or finish a write."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self._drainer.join(10)
            self.proc.stderr.close()
