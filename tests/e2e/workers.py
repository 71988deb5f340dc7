"""Running `carelog worker` as a real subprocess, for the scale-out tests."""

from __future__ import annotations

import signal
import subprocess

from tests.e2e.server import LoggedProcess, carelog_command


class WorkerProcess(LoggedProcess):
    """`carelog worker` on a store and a broker; its JSON log lines are collected."""

    ready_event = "worker.ready"

    def __init__(self, store: str, servers: str, env: dict[str, str] | None = None) -> None:
        self.store = store
        self.servers = servers
        super().__init__(env)

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        cmd = [*carelog_command(), "worker", "--store", self.store, "--kafka", self.servers]
        self.logs, self.raw_stderr = [], []
        if not self._launch(cmd, timeout) or self.proc is None or self.proc.poll() is not None:
            self.kill()
            raise AssertionError("carelog worker did not start:\n" + "".join(self.raw_stderr))
        return self

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
