"""End-to-end MLLP ingest: carelog against two reference servers, same corpus, same client.

Targets, each in its own process, started fresh for every row:

- ``carelog``: `carelog serve` on a new SQLite file (validate, parse, commit, ACK);
- ``carelog@REF`` (with ``--baseline REF``): the same at an older commit, exported
  to a temporary directory and run from there, so before/after share one run;
- ``python-hl7``: python-hl7's asyncio MLLP server, ACK after ``hl7.parse``, stores nothing;
- ``bare``: a bare asyncio server answering a fixed ACK without parsing;
- ``carelog-tls``: `carelog serve` with MLLP over TLS 1.2+, client certificates
  from a test CA (trustme, the dev extra) and a sender binding checked on every
  message, as a hospital would deploy it; the table adds its ratio to plain TCP.

Every connection sends its next message only after the ACK of the previous one
(stop-and-wait, as real senders do). The client is one asyncio process, the
same for every target, so ratios compare the servers and not the load.
Reports messages/s, p50/p99 latency, the server's CPU per message, carelog's
messages per group commit (``msg/cm``, from its /metrics) and ratios to the peers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import adt_messages

__all__ = ["Result", "Target", "main", "run_load"]

_ROOT = Path(__file__).resolve().parent.parent
_START, _END = b"\x0b", b"\x1c\r"


@dataclass
class Result:
    """One row of the table."""

    target: str
    connections: int
    messages: int
    accepted: int
    msg_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None = None  # the server's CPU time (all its threads) per message
    per_commit: float | None = None  # carelog: messages per group commit (from /metrics)


@dataclass
class Target:
    """How to start one server: a command, its working directory and environment."""

    name: str
    command: list[str]
    cwd: Path = _ROOT
    env: dict[str, str] | None = None
    store: bool = False  # carelog: add --store/--mllp/--http for a fresh database
    client_ssl: ssl.SSLContext | None = None  # MLLP over TLS: the load client's context


class _Process:
    """A server subprocess whose stderr is drained (carelog logs a line per message)."""

    def __init__(self, target: Target, tmp: Path) -> None:
        cmd = list(target.command)
        if target.store:
            cmd += [
                "serve",
                "--store",
                f"sqlite:///{tmp / 'bench.db'}",
                "--mllp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ]
        env = {**os.environ, **(target.env or {})}
        self.proc = subprocess.Popen(
            cmd, cwd=target.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.port = 0
        self.http_port = 0
        self._ready = threading.Event()
        self._head: list[bytes] = []
        self.tail: collections.deque[bytes] = collections.deque(maxlen=20)
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(60) or not self.port:
            self.stop()
            raise RuntimeError(f"{target.name} did not start:\n" + b"".join(self._head).decode())

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.tail.append(line)
            if self.port:
                continue
            if len(self._head) < 50:
                self._head.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "serve.ready":
                self.http_port = int(record.get("http_port", 0))
                self.port = int(record["mllp_port"])
                self._ready.set()
        self._ready.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _writer_totals(http_port: int) -> tuple[float, float] | None:
    """(commits, messages) of carelog's writer from /metrics; None where it has none."""
    if not http_port:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    values = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    try:
        return (
            float(values["carelog_writer_commits_total"]),
            float(values["carelog_writer_messages_total"]),
        )
    except (KeyError, ValueError):  # an older carelog (--baseline) without these
        return None


def _msa_code(ack: bytes) -> str:
    at = ack.find(b"MSA")
    return ack[at + 4 : at + 6].decode("ascii", "replace") if at >= 0 else "?"


async def _connection(
    port: int,
    chunk: list[bytes],
    latencies: list[float],
    codes: list[str],
    tls: ssl.SSLContext | None = None,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20, ssl=tls)
    try:
        for message in chunk:
            t0 = time.perf_counter()
            writer.write(_START + message + _END)
            ack = await reader.readuntil(_END)
            latencies.append(time.perf_counter() - t0)
            codes.append(_msa_code(ack))
    finally:
        writer.close()


async def run_load(
    port: int, messages: list[bytes], connections: int, tls: ssl.SSLContext | None = None
) -> tuple[float, list[float], list[str]]:
    """Sends ``messages`` over stop-and-wait connections: (seconds, latencies, ack codes).

    With ``tls`` every connection does its TLS handshake first (inside the timing,
    as a sender's first message would).
    """
    latencies: list[float] = []
    codes: list[str] = []
    chunks = [messages[i::connections] for i in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, c, latencies, codes, tls) for c in chunks))
    return time.perf_counter() - started, latencies, codes


def _measure(
    target: Target, messages: list[bytes], warmup: list[bytes], connections: int
) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        server = _Process(target, Path(tmp))
        try:
            asyncio.run(run_load(server.port, warmup, 1, target.client_ssl))
            writes_before = _writer_totals(server.http_port)
            cpu_before = _cpu_seconds(server.proc.pid)
            elapsed, latencies, codes = asyncio.run(
                run_load(server.port, messages, connections, target.client_ssl)
            )
            cpu_after = _cpu_seconds(server.proc.pid)
            writes_after = _writer_totals(server.http_port)
        finally:
            server.stop()
    latencies.sort()
    return Result(
        target.name,
        connections,
        len(messages),
        codes.count("AA") + codes.count("CA"),  # the corpus asks for accept ACKs (MSH-15 AL)
        len(messages) / elapsed,
        statistics.median(latencies) * 1000,
        latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        None
        if cpu_before is None or cpu_after is None
        else (cpu_after - cpu_before) / len(messages) * 1e6,
        None
        if writes_before is None or writes_after is None or writes_after[0] == writes_before[0]
        else (writes_after[1] - writes_before[1]) / (writes_after[0] - writes_before[0]),
    )


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux ``/proc``), None elsewhere.

    On a shared machine throughput swings with the other load; the server's
    CPU per message swings much less, so it shows what a change saved.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _carelog() -> Target:
    script = Path(sys.executable).parent / "carelog"
    return Target("carelog", [str(script)], store=True)


def _carelog_tls(tmp: Path) -> Target:
    """carelog with MLLP over TLS, client certificates and a sender binding (trustme CA)."""
    import trustme  # the dev extra

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("bench-sender")
    files = {
        "ca.pem": ca.cert_pem,
        "server.pem": server.cert_chain_pems[0],
        "server.key": server.private_key_pem,
    }
    for name, blob in files.items():
        blob.write_to_path(str(tmp / name))
    senders = tmp / "senders.toml"
    senders.write_text('[senders]\n"bench-sender" = [{ msh3 = "EPIC", msh4 = "GENHOSP" }]\n')
    context = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    client.configure_cert(context)
    script = Path(sys.executable).parent / "carelog"
    env = {
        "CARELOG_MLLP_TLS_CERT": str(tmp / "server.pem"),
        "CARELOG_MLLP_TLS_KEY": str(tmp / "server.key"),
        "CARELOG_MLLP_TLS_CA": str(tmp / "ca.pem"),
        "CARELOG_MLLP_SENDERS": str(senders),
    }
    return Target("carelog-tls", [str(script)], env=env, store=True, client_ssl=context)


def _baseline(ref: str, tmp: Path) -> Target:
    """carelog at ``ref``, exported and built (its own native validator) under ``tmp``."""
    archive = subprocess.run(
        ["git", "-C", str(_ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    subprocess.run(
        [sys.executable, "native/build_validator.py"], cwd=tmp, check=True, capture_output=True
    )
    return Target(
        f"carelog@{ref}",
        [sys.executable, "-m", "adapters.cli"],
        cwd=tmp,
        env={"PYTHONPATH": str(tmp)},
        store=True,
    )


def _peer(kind: str, name: str) -> Target:
    return Target(name, [sys.executable, "-m", "bench.peers", kind])


def render(runs: dict[tuple[str, int], list[Result]]) -> str:
    """The table: per row the median round, and ratios to the peers taken round by round.

    Each ratio compares two rows of the same round (measured minutes apart at
    most), and the median of those is shown: on a machine whose load swings,
    that is steadier than a ratio of two medians.
    """
    lines = [
        f"{'target':<22} {'conns':>5} {'msgs':>6} {'AA/CA':>6} {'msg/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'cpu us':>7} {'msg/cm':>6} {'x hl7':>6} {'% bare':>7} {'x before':>8}"
    ]
    baseline = next((name for name, _ in runs if name.startswith("carelog@")), None)
    for (name, connections), rows in runs.items():
        r = _median(rows)
        before = _ratios(rows, runs.get((baseline or "", connections)))
        speedup = f" {before:8.2f}" if before is not None and name == "carelog" else ""
        hl7 = _ratios(rows, runs.get(("python-hl7", connections)))
        bare = _ratios(rows, runs.get(("bare", connections)))
        ratio = f"{hl7:6.2f}" if hl7 is not None else f"{'':6}"
        share = f"{100 * bare:6.1f}%" if bare is not None else f"{'':7}"
        cpus = [x.cpu_us for x in rows if x.cpu_us is not None]
        cpu = f"{statistics.median(cpus):7.0f}" if cpus else f"{'':7}"
        commits = [x.per_commit for x in rows if x.per_commit is not None]
        per_commit = f"{statistics.median(commits):6.1f}" if commits else f"{'':6}"
        lines.append(
            f"{name:<22} {connections:>5} {r.messages:>6} {r.accepted:>6} "
            f"{r.msg_per_s:>8.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {cpu} {per_commit} "
            f"{ratio} {share}{speedup}"
        )
    return "\n".join(lines)


def _ratios(rows: list[Result], peers: list[Result] | None) -> float | None:
    if not peers:
        return None
    return statistics.median(r.msg_per_s / p.msg_per_s for r, p in zip(rows, peers, strict=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="messages per row")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["carelog", "python-hl7", "bare"],
        help="carelog, carelog-tls, python-hl7, bare (and the baseline with --baseline)",
    )
    parser.add_argument("--baseline", metavar="REF", help="also run carelog at this git ref")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat every row, interleaved; report medians"
    )
    args = parser.parse_args(argv)
    messages = adt_messages(args.count)
    warmup = adt_messages(200, seed=11, start=50_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        targets = []
        if args.baseline:
            targets.append(_baseline(args.baseline, Path(tmp)))
        for name in args.targets:
            targets.append(
                {
                    "carelog": _carelog,
                    "carelog-tls": lambda: _carelog_tls(Path(tmp)),
                    "python-hl7": lambda: _peer("hl7", "python-hl7"),
                    "bare": lambda: _peer("bare", "bare"),
                }[name]()
            )
        runs: dict[tuple[str, int], list[Result]] = {}
        for _ in range(args.rounds):
            for connections in args.connections:
                for target in targets:
                    result = _measure(target, messages, warmup, connections)
                    runs.setdefault((target.name, connections), []).append(result)
                    print(
                        f"# {result.target} x{connections}: {result.msg_per_s:.0f} msg/s"
                        + (f", {result.cpu_us:.0f} us CPU/msg" if result.cpu_us else ""),
                        file=sys.stderr,
                        flush=True,
                    )
        shutil.rmtree(tmp, ignore_errors=True)
    print(render(runs))
    for connections in args.connections:
        line = tls_ratio(runs.get(("carelog-tls", connections)), runs.get(("carelog", connections)))
        if line:
            print(f"carelog MLLP/TLS against plain TCP, {connections} connections: {line}")


def tls_ratio(tls: list[Result] | None, plain: list[Result] | None) -> str:
    """Throughput and CPU per message of TLS over plain, round by round (medians)."""
    if not tls or not plain:
        return ""
    speed = statistics.median(t.msg_per_s / p.msg_per_s for t, p in zip(tls, plain, strict=True))
    text = f"throughput x{speed:.2f}"
    cpus = [(t.cpu_us, p.cpu_us) for t, p in zip(tls, plain, strict=True) if t.cpu_us and p.cpu_us]
    if cpus:
        text += f", CPU/msg x{statistics.median(t / p for t, p in cpus):.2f}"
    return text


def _median(rows: list[Result]) -> Result:
    """The row whose throughput is the median of the rounds (its latencies come with it)."""
    return sorted(rows, key=lambda r: r.msg_per_s)[len(rows) // 2]


if __name__ == "__main__":
    main()
