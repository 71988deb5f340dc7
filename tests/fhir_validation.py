"""Every FHIR resource and Bundle the suite receives goes through the R4 reference validator.

Why: the Python models (fhir.resources) check shapes and cardinalities, not
bindings, invariants or UCUM; HAPI's ``FhirInstanceValidator``, the one HAPI,
Microsoft's and Google's servers are measured against, checks all of them. A
plugin (registered by tests/conftest.py) records each FHIR JSON body a test
receives, whatever client it used (httpx, sync or async, in-process over the
ASGI transport or over a socket to `carelog serve`; requests, which fhirpy
uses), into ``var/fhir-responses/`` (emptied when the session starts, kept
after it to look at). When the session ends it runs the validator over them
in one JVM (.ci/fhir-validator.sh: HAPI from Maven Central, offline) and:

- any message of severity ``error`` or ``fatal`` fails the run, listed with the
  file, the test and request it came from, the resource and the location;
- warnings and information are counted by message id in the summary (the
  full list is in ``var/fhir-responses/report.txt``), never failing: they
  are either best-practice advice (narrative, performer) or codes the
  validator cannot check offline (LOINC, CPT, carelog's ``urn:`` systems);
  docs/fhir-search.md lists them and why they stay.

``--fhir-validator=off`` skips the validation (a quick focused run); the
recording still happens. Nothing is recorded or run when no test received a
FHIR body (``pytest tests/unit`` needs no Java).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "fhir-validator.sh"
FAILING = frozenset({"error", "fatal"})

__all__ = ["RECORDER", "Finding", "Recorder", "run_validator"]


@dataclass(frozen=True)
class Finding:
    """One validator message about one recorded file."""

    file: str
    severity: str
    location: str
    message_id: str
    message: str


def run_validator(*paths: Path) -> dict[str, list[Finding]]:
    """The validator's messages per file (every file given appears, with [] when clean)."""
    done = subprocess.run(
        ["bash", str(SCRIPT), "run", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"the FHIR reference validator failed (exit {done.returncode}): {done.stderr[-3000:]}"
        )
    out: dict[str, list[Finding]] = {}
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        out[row["file"]] = [
            Finding(
                row["file"],
                m["severity"],
                m["location"] or "",
                m["id"] or "",
                m["message"] or "",
            )
            for m in row["messages"]
        ]
    return out


def _resource_json(response_headers: Any, content: bytes) -> dict[str, Any] | None:
    """The body as a FHIR resource, or None when it is not one (HTML, NDJSON, plain JSON)."""
    kind = str(response_headers.get("content-type", ""))
    if "json" not in kind or not content or content[:1] != b"{":
        return None
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        return data
    return None


@dataclass
class Recorder:
    """Records FHIR bodies into ``directory`` and validates them at the session's end."""

    directory: Path
    enabled: bool
    current: str = ""
    count: int = 0
    index: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: set[bytes] = field(default_factory=set)
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    problem: str = ""
    _undo: list[tuple[Any, str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # e2e tests' threads

    # -- recording ----------------------------------------------------------

    def record(self, method: str, url: str, status: int, headers: Any, content: bytes) -> None:
        data = _resource_json(headers, content)
        if data is None:
            return
        with self._lock:
            self.count += 1
            if content in self.seen:
                return
            self.seen.add(content)
            name = f"{len(self.index) + 1:05d}-{data['resourceType']}.json"
            (self.directory / name).write_bytes(content)
            self.index[name] = {
                "test": self.current,
                "request": f"{method} {url}",
                "status": str(status),
            }

    def patch(self) -> None:
        """Wraps the send of httpx's clients and of requests' session (fhirpy's)."""
        recorder = self
        sync_send = httpx.Client.send
        async_send = httpx.AsyncClient.send

        def keep(request: httpx.Request, response: httpx.Response, kw: dict[str, Any]) -> None:
            if not kw.get("stream"):  # a streamed body is not read here
                recorder.record(
                    request.method,
                    str(request.url),
                    response.status_code,
                    response.headers,
                    response.content,
                )

        def send(client: httpx.Client, request: httpx.Request, **kw: Any) -> httpx.Response:
            response = sync_send(client, request, **kw)
            keep(request, response, kw)
            return response

        async def asend(
            client: httpx.AsyncClient, request: httpx.Request, **kw: Any
        ) -> httpx.Response:
            response = await async_send(client, request, **kw)
            keep(request, response, kw)
            return response

        self._swap(httpx.Client, "send", send)
        self._swap(httpx.AsyncClient, "send", asend)
        try:
            import requests
        except ImportError:  # pragma: no cover - fhirpy brings it in the dev extra
            return
        session_send = requests.Session.send

        def rsend(session: requests.Session, request: Any, **kw: Any) -> requests.Response:
            response = session_send(session, request, **kw)
            if not kw.get("stream"):
                recorder.record(
                    str(request.method),
                    str(request.url),
                    response.status_code,
                    response.headers,
                    response.content,
                )
            return response

        self._swap(requests.Session, "send", rsend)

    def _swap(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def unpatch(self) -> None:
        for owner, name, value in reversed(self._undo):
            setattr(owner, name, value)
        self._undo.clear()

    # -- validating ---------------------------------------------------------

    def validate(self) -> None:
        (self.directory / "index.json").write_text(json.dumps(self.index, indent=1))
        if not self.index or not self.enabled:
            return
        try:
            found = run_validator(self.directory)
        except (RuntimeError, OSError) as e:
            self.problem = str(e)
            return
        self.findings = {Path(k).name: v for k, v in found.items() if Path(k).name in self.index}
        missing = sorted(set(self.index) - set(self.findings))
        if missing:
            self.problem = f"the validator gave no answer for {len(missing)} files: {missing[:5]}"
        (self.directory / "report.txt").write_text("\n".join(self._lines(all_messages=True)))

    def errors(self) -> list[Finding]:
        return [f for fs in self.findings.values() for f in fs if f.severity in FAILING]

    def failed(self) -> bool:
        return bool(self.problem or self.errors())

    def _lines(self, all_messages: bool) -> Iterator[str]:
        for name, found in sorted(self.findings.items()):
            shown = [f for f in found if all_messages or f.severity in FAILING]
            if not shown:
                continue
            where = self.index[name]
            yield f"{self.directory / name}  ({where['request']} -> {where['status']})"
            yield f"  from {where['test']}"
            for f in shown:
                yield f"  {f.severity}: {f.location}: {f.message} [{f.message_id}]"

    def summary(self) -> list[str]:
        if not self.index:
            return []
        if not self.enabled:
            return [
                f"FHIR reference validator skipped (--fhir-validator=off): "
                f"{len(self.index)} distinct bodies recorded in {self.directory}"
            ]
        lines = [
            f"FHIR reference validator (HAPI, offline): {self.count} FHIR bodies received, "
            f"{len(self.index)} distinct validated in {self.directory}"
        ]
        if self.problem:
            lines.append(f"  FAILED to run: {self.problem}")
        errors = self.errors()
        lines.append(f"  errors: {len(errors)}")
        lines.extend(self._lines(all_messages=False))
        notes = Counter(
            (f.severity, f.message_id)
            for fs in self.findings.values()
            for f in fs
            if f.severity not in FAILING
        )
        if notes:
            lines.append("  not failing (see report.txt):")
            for (severity, message_id), n in notes.most_common():
                lines.append(f"    {n:6} {severity}: {message_id}")
        return lines


# -- the pytest hooks (tests/conftest.py registers this module) -----------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fhir-validator",
        choices=("on", "off"),
        default="on",
        help="validate every FHIR body received with HAPI's reference validator at the end",
    )


RECORDER = pytest.StashKey[Recorder]()
"""The session's recorder in ``config.stash`` (absent on an xdist worker)."""


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has none to record
        return
    directory = ROOT / "var" / "fhir-responses"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    recorder = Recorder(directory, config.getoption("--fhir-validator") == "on")
    recorder.patch()
    config.stash[RECORDER] = recorder


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(RECORDER, None)
    if recorder is not None:
        recorder.unpatch()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    recorder = item.config.stash.get(RECORDER, None)
    if recorder is not None:
        recorder.current = item.nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    recorder = session.config.stash.get(RECORDER, None)
    if recorder is None:
        return
    recorder.validate()
    if recorder.failed() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    recorder = config.stash.get(RECORDER, None)
    if recorder is None:
        return
    lines = recorder.summary()
    if not lines:
        return
    red = recorder.failed()
    terminalreporter.section("FHIR reference validator", red=red, green=not red)
    for line in lines:
        terminalreporter.line(line)
