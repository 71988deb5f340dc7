"""`make bench` (``python -m bench``): every benchmark against its peers, into docs/benchmarks.md.

One run, one machine, one file: the machine (CPU, cores, memory, load average
at the start and the end, Python and library versions), the command of each
part, and per row the median over rounds with the min-max beside it. Ratios
to the peers are taken round by round (two rows measured minutes apart at most)
and their median shown: on a shared machine whose load swings that is steadier
than a ratio of two medians. ``--quick`` runs every part small (a minute or
two) to check the machinery or get a first idea; the default run takes about
ten minutes on two cores. Not run here: ``make bench-scale`` (needs PostgreSQL
and Kafka) and ``python -m bench.live_projection``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Profile", "machine", "main", "replace_section", "spread"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """How big each part runs."""

    validator_count: int
    validator_seconds: float
    validator_rounds: int
    ingest_count: int
    ingest_rounds: int
    writer_count: int
    writer_rounds: int
    replay_events: int
    replay_rounds: int
    read_patients: int
    read_requests: int
    search_patients: int = 100_000  # ten observations each
    search_queries: int = 200


DEFAULT = Profile(3000, 0.5, 5, 4000, 3, 4000, 3, 200_000, 3, 20_000, 1000)
QUICK = Profile(1000, 0.2, 3, 1000, 2, 1000, 3, 20_000, 2, 2_000, 200, 2_000, 50)


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """``median (min-max)`` of the rounds; one value alone when there was one round."""
    median = fmt.format(statistics.median(values))
    if len(values) < 2:
        return median
    return f"{median} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _ratio(ours: Sequence[float], theirs: Sequence[float]) -> str:
    """The median of the per-round ratios, as ``1.23x``."""
    return f"{statistics.median(a / b for a, b in zip(ours, theirs, strict=True)):.2f}x"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """What the figures were measured on (printed at the top of the report)."""
    return {
        "CPU": _cpu_model(),
        "cores": f"{len(os.sched_getaffinity(0))} usable of {os.cpu_count()}",
        "memory": _memory(),
        "system": platform.platform(),
        "Python": platform.python_version(),
        "libraries": ", ".join(
            f"{name} {_version(name)}"
            for name in ("eventsourcing", "hl7", "hl7apy", "fastapi", "cffi")
        ),
    }


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _validator(p: Profile) -> list[str]:
    from bench.validator import rounds
    from bench.validator_corpus import corpus

    messages = corpus(p.validator_count)
    size = sum(map(len, messages)) / len(messages)
    rates = rounds(messages, repeat=p.validator_rounds, seconds=p.validator_seconds)
    floor = rates["plain split (CR, |)"]
    ours = rates["carelog batch (validate_many)"]
    lines = [
        f"`python -m bench.validator --count {p.validator_count} --seconds "
        f"{p.validator_seconds} --repeat {p.validator_rounds}`: {len(messages)} messages "
        f"(ADT, ORU, DFT; {size:.0f} bytes on average), messages/s of this process's CPU "
        f"time, {p.validator_rounds} rounds taking turns.",
        "",
        "| what | msg/s: median (min-max) | vs plain split | carelog batch vs it |",
        "|---|---:|---:|---:|",
    ]
    for name, rate in rates.items():
        versus = "" if name.startswith("carelog") else _ratio(ours, rate)
        lines.append(
            f"| {name.replace('|', '&#124;')} | {spread(rate)} | {_ratio(rate, floor)} | {versus} |"
        )
    lines += [
        "",
        "carelog's rows check every rule of the message profiles (envelope, structure, "
        "types, tables, lengths); python-hl7 only parses; hl7apy parses and validates "
        "against its own HL7 definitions; the plain split is the floor any Python parser "
        "pays.",
    ]
    return lines


def _ingest(p: Profile) -> list[str]:
    from bench import ingest
    from bench.corpus import adt_messages

    messages = adt_messages(p.ingest_count)
    warmup = adt_messages(200, seed=11, start=50_000_000)
    targets = [ingest._carelog(), ingest._peer("hl7", "python-hl7"), ingest._peer("bare", "bare")]
    runs: dict[tuple[str, int], list[ingest.Result]] = {}
    connections = (1, 16)
    for _ in range(p.ingest_rounds):
        for conns in connections:
            for target in targets:
                result = ingest._measure(target, messages, warmup, conns)
                runs.setdefault((target.name, conns), []).append(result)
                print(f"  ingest {target.name} x{conns}: {result.msg_per_s:.0f} msg/s", flush=True)
    lines = [
        f"`python -m bench.ingest --count {p.ingest_count} --connections 1 16 --rounds "
        f"{p.ingest_rounds}`: each server in its own process, started fresh for every "
        "row; one asyncio client sends ADT messages over MLLP, each connection its next "
        "message only after the ACK of the previous one (stop-and-wait). carelog "
        "validates, parses, decides and commits to a new SQLite file (fsync) before each "
        "ACK; python-hl7's asyncio MLLP server answers after `hl7.parse` and stores "
        "nothing; the bare server answers a fixed ACK without parsing. CPU is the "
        "server process's, all threads.",
        "",
        "| server | conns | msg/s: median (min-max) | p50 ms | p99 ms | CPU us/msg "
        "| vs python-hl7 | vs bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, conns), rows in runs.items():
        rates = [r.msg_per_s for r in rows]
        cpus = [r.cpu_us for r in rows if r.cpu_us is not None]
        hl7 = [r.msg_per_s for r in runs[("python-hl7", conns)]]
        bare = [r.msg_per_s for r in runs[("bare", conns)]]
        lines.append(
            f"| {name} | {conns} | {spread(rates)} "
            f"| {spread([r.p50_ms for r in rows], '{:.2f}')} "
            f"| {spread([r.p99_ms for r in rows], '{:.2f}')} "
            f"| {spread(cpus) if cpus else ''} "
            f"| {_ratio(rates, hl7)} | {_ratio(rates, bare)} |"
        )
    return lines


def _writer(p: Profile) -> list[str]:
    from bench.corpus import adt_messages
    from bench.es_peer import run_carelog, run_eventsourcing

    messages = adt_messages(p.writer_count)
    results: dict[str, list[tuple[int, float, float]]] = {}
    for _ in range(p.writer_rounds):
        for name, run in (
            ("carelog ingest_many", run_carelog),
            ("eventsourcing Application.save", run_eventsourcing),
        ):
            results.setdefault(name, []).append(run(messages, 16))
    ours = results["carelog ingest_many"]
    theirs = results["eventsourcing Application.save"]
    lines = [
        f"`python -m bench.es_peer --count {p.writer_count} --batch 16` "
        f"({p.writer_rounds} rounds): in one process, ADT messages in commits of 16 on a "
        "fresh SQLite file. carelog validates, parses, decides and commits (about three "
        "events a message); eventsourcing's plain `Application.save` stores three plain "
        "aggregates a message, deciding nothing: the library's public write path.",
        "",
        "| writer | events | events/s: median (min-max) | CPU us/event | events/s vs "
        "eventsourcing | CPU vs eventsourcing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rows in results.items():
        rates = [e / wall for e, wall, _ in rows]
        cpu = [c / e * 1e6 for e, _, c in rows]
        their_rates = [e / wall for e, wall, _ in theirs]
        their_cpu = [c / e * 1e6 for e, _, c in theirs]
        lines.append(
            f"| {name} | {rows[0][0]} | {spread(rates)} | {spread(cpu, '{:.1f}')} "
            f"| {_ratio(rates, their_rates)} | {_ratio(cpu, their_cpu)} |"
        )
    assert ours
    return lines


def _replay(p: Profile) -> list[str]:
    from bench import replay

    results: dict[str, list[tuple[int, float, float]]] = {}
    for _ in range(p.replay_rounds):
        for label, count, wall, cpu in replay.run(p.replay_events, alone=False):
            results.setdefault(label, []).append((count, wall, cpu))
    one = results["all, one process"]
    mapper = results["decode: mapper"]
    lines = [
        f"`python -m bench.replay --events {p.replay_events} --no-alone` "
        f"({p.replay_rounds} rounds): a store of ADT A01/A04 events (message, patient, "
        "visit) generated once through group commit and cached under `var/bench/`, "
        "read back and projected into fresh SQLite read models as `carelog replay` does. "
        "CPU counts the worker processes too. The peer of carelog's decoder is the "
        "library's public mapper.",
        "",
        "| replay | events | events/s: median (min-max) | events per CPU s "
        "| vs one process | vs the library's mapper |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, rows in results.items():
        rates = [n / wall for n, wall, _ in rows]
        per_cpu = [n / cpu for n, _, cpu in rows]
        one_rates = [n / wall for n, wall, _ in one]
        mapper_cpu = [n / cpu for n, _, cpu in mapper]
        versus_one = _ratio(rates, one_rates) if not label.startswith("decode") else ""
        versus_mapper = _ratio(per_cpu, mapper_cpu) if label == "decode: runner's" else ""
        lines.append(
            f"| {label} | {rows[0][0]:,} | {spread(rates)} | {spread(per_cpu)} "
            f"| {versus_one} | {versus_mapper} |"
        )
    return lines


def _read_models(p: Profile) -> list[str]:
    from bench import read_models

    r = read_models.run(p.read_patients, 20, 40, p.read_requests)
    lines = [
        f"`python -m bench.read_models --patients {p.read_patients} --rounds "
        f"{p.read_requests}`: {r['messages']:,} A04/A03 messages through group-commit "
        f"ingestion into SQLite, 20 locations with 40 waiting each, then {p.read_requests} "
        "sequential in-process requests per path (no sockets). `/health` is the "
        "framework's floor.",
        "",
        "| path | p50 ms | p95 ms | bytes |",
        "|---|---:|---:|---:|",
    ]
    for path, figures in r["latencies"].items():
        lines.append(
            f"| `{path}` | {figures['p50_ms']:.2f} | {figures['p95_ms']:.2f} | {figures['bytes']} |"
        )
    return lines


def _fhir_search(p: Profile) -> list[str]:
    """Every FHIR search at scale on SQLite, and on PostgreSQL when `make bench` started it."""
    import tempfile

    from bench import fhir_search

    stores = []
    dsn = os.environ.get("CARELOG_TEST_POSTGRES_DSN", "")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        stores.append(("sqlite", f"sqlite:///{Path(tmp) / 'search.db'}"))
        if dsn:
            stores.append(("postgres", dsn))
        for label, url in stores:
            print(f"  fhir search on {label}: filling {p.search_patients:,} patients", flush=True)
            runs.append(fhir_search.run(label, url, p.search_patients, 10, p.search_queries, True))
    lines = [
        f"`python -m bench.fhir_search --patients {p.search_patients} "
        f"--observations-per-patient 10 --queries {p.search_queries}"
        f"{' --postgres DSN' if dsn else ''}`: the read models filled through the "
        "projections' batched view commands (no HL7 parsing), then each search "
        f"{p.search_queries} times with varying values through the app in-process, "
        "bearer token verified (no socket, no access log). Target: p95 under 10 ms for an "
        "indexed search, under 50 ms when resources are added (`_include`, `$everything`)."
        + ("" if dsn else " PostgreSQL was not running: SQLite only."),
        "",
        "| search | store | p50 ms | p95 ms | target ms | met | entries |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for r in runs:
        for row in r.rows:
            met = "yes" if row.p95_ms <= row.target_ms else "**no**"
            lines.append(
                f"| `{row.search}` | {r.store} | {row.p50_ms:.2f} | {row.p95_ms:.2f} "
                f"| {row.target_ms:.0f} | {met} | {row.entries} |"
            )
    lines += [""]
    lines += [
        f"Filled on {r.store}: {r.patients:,} patients and {r.observations:,} observations "
        f"in {r.fill_s:.0f} s."
        for r in runs
    ]
    return lines


PARTS: tuple[tuple[str, Callable[[Profile], list[str]]], ...] = (
    ("The validator against hl7apy and python-hl7", _validator),
    ("MLLP ingest against python-hl7's and a bare MLLP server", _ingest),
    ("Writing events against eventsourcing's plain application", _writer),
    ("Replay into the read models", _replay),
    ("Read latency of the HTTP read models", _read_models),
    ("FHIR search at 100k patients / 1M observations", _fhir_search),
)


def render(
    command: str, facts: dict[str, str], load: tuple[str, str], sections: list[list[str]]
) -> str:
    """The Markdown of docs/benchmarks.md."""
    out = [
        "# Benchmarks",
        "",
        f"Written by `{command}` (`bench/report.py`); run it again rather than edit this "
        "file. Every part runs carelog and its peers in the same run, on the same input; "
        "read the ratios, which hold better than the absolute figures on a shared machine. "
        "Figures are medians over rounds with the min-max in brackets. Not run here: "
        "`make bench-scale` (PostgreSQL and Kafka) and `python -m bench.live_projection`.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        f"| load average (1/5/15 min) at the start | {load[0]} |",
        f"| load average at the end | {load[1]} |",
        "",
    ]
    for (title, _part), lines in zip(PARTS, sections, strict=True):
        out += [f"## {title}", "", *lines, ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every part small (a minute or two)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="the report to write"
    )
    parser.add_argument(
        "--only",
        default="",
        help="run only the parts whose title starts with this and replace just their "
        "sections in --out (e.g. --only 'FHIR search')",
    )
    args = parser.parse_args(argv)
    from adapters.logging import configure_logging

    configure_logging("console", "warning")
    profile = QUICK if args.quick else DEFAULT
    command = "make bench BENCH_ARGS=--quick" if args.quick else "make bench"
    facts = machine()
    start = _load()
    started = time.perf_counter()
    if args.only:
        _only(args.only, profile, command, args.out)
        return
    sections = []
    for title, part in PARTS:
        print(f"# {title}", file=sys.stderr, flush=True)
        sections.append(part(profile))
    end = _load()
    facts["run"] = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {time.perf_counter() - started:.0f} s in all"
    )
    args.out.write_text(render(command, facts, (start, end), sections))
    print(f"wrote {args.out}", file=sys.stderr)


def _only(prefix: str, profile: Profile, command: str, out: Path) -> None:
    """Runs the parts titled ``prefix...`` and puts their sections in place in ``out``."""
    chosen = [(t, part) for t, part in PARTS if t.startswith(prefix)]
    if not chosen:
        raise SystemExit(f"no part of the report is titled {prefix!r}...")
    text = out.read_text() if out.exists() else ""
    for title, part in chosen:
        start, began = _load(), time.perf_counter()
        print(f"# {title}", file=sys.stderr, flush=True)
        lines = part(profile)
        lines += [
            "",
            f"This section alone was run by `{command} BENCH_ARGS=\"--only '{prefix}'\"` "
            f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {time.perf_counter() - began:.0f} s, "
            f"load average {start} at its start and {_load()} at its end.",
        ]
        text = replace_section(text, title, lines)
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)


def replace_section(text: str, title: str, lines: list[str]) -> str:
    """``text`` with the section ``## title`` replaced by ``lines`` (appended if absent)."""
    head = f"## {title}\n"
    body = "\n" + "\n".join(lines) + "\n"
    at = text.find(head)
    if at < 0:
        return text.rstrip("\n") + "\n\n" + head + body
    end = text.find("\n## ", at + len(head))
    rest = "" if end < 0 else "\n" + text[end + 1 :]
    return text[: at + len(head)] + body + rest


if __name__ == "__main__":
    main()
