"""`carelog replay`, `carelog history` and `carelog verify`: the auditor's commands.

Parsing and printing only: the work is done by projections.rebuild (replay,
as-of), the history read model and projections.audit (seals, verify), on an
engine wired by adapters.bootstrap. Exit codes: 0 done / intact, 1 not intact,
unknown patient or a failed replay worker, 2 bad usage (from cli.main's
CarelogError handling).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from engine.config import Settings
from engine.errors import CarelogError, ConfigError

__all__ = ["HANDLERS", "add_parsers", "add_verbose", "tool_settings"]


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``--verbose``: a tool's log lines on stderr beside its output (default: warnings only)."""
    parser.add_argument(
        "--verbose", action="store_true", help="also print log lines (or set CARELOG_LOG_LEVEL)"
    )


def tool_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with logging set up quiet unless asked (tools only)."""
    from adapters.logging import configure_logging, tool_log_level

    settings = Settings.from_env(os.environ)
    level = tool_log_level(
        settings.log_level,
        verbose=getattr(args, "verbose", False),
        level_set=bool(os.environ.get("CARELOG_LOG_LEVEL")),
    )
    settings = replace(settings, log_level=level)
    configure_logging(settings.log_format, settings.log_level)
    return settings


def add_parsers(sub: Any) -> None:
    """Adds the three subcommands to ``carelog``'s subparsers."""
    replay = sub.add_parser("replay", help="rebuild read models from the event history")
    replay.add_argument("--store", help="sqlite:///PATH or postgresql://... (env CARELOG_STORE)")
    replay.add_argument(
        "--projection",
        action="append",
        help="only this read model (key or versioned name; repeatable; default: all)",
    )
    replay.add_argument(
        "--as-of",
        help="build the read models as they were at this ISO 8601 time (a date: its end) "
        "into a separate SQLite file instead",
    )
    replay.add_argument(
        "--by",
        choices=("recorded", "occurred"),
        default="recorded",
        help="--as-of reads when carelog recorded each event (default) or its HL7 time",
    )
    replay.add_argument("--into", type=Path, help="the --as-of file (default var/as-of-TIME.db)")
    replay.add_argument(
        "--workers",
        type=_positive,
        help="processes building the read models side by side (default: one per core, "
        "one process for a small history)",
    )

    history = sub.add_parser("history", help="a patient's events, with their source messages")
    history.add_argument("--store", help="sqlite:///PATH or postgresql://... (env CARELOG_STORE)")
    history.add_argument("--patient", required=True, help="patient id (UUID) or AUTHORITY|MRN")
    history.add_argument("--as-of", help="only what carelog had recorded by this ISO 8601 time")
    history.add_argument("--raw", action="store_true", help="print each source message's text")

    verify = sub.add_parser("verify", help="check the integrity of the stored history")
    verify.add_argument("--store", help="sqlite:///PATH or postgresql://... (env CARELOG_STORE)")
    verify.add_argument(
        "--seal", action="store_true", help="seal the unsealed tail when everything is intact"
    )
    for parser in (replay, history, verify):
        add_verbose(parser)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    settings = tool_settings(args)
    if args.store:
        settings = replace(settings, store=args.store)
    settings.eventsourcing_env()
    if settings.backend == "memory":
        raise ConfigError("CARELOG_STORE: a memory: store has no history to work on")
    if settings.backend == "sqlite" and not settings.sqlite_path().exists():
        raise ConfigError(f"CARELOG_STORE: {settings.sqlite_path()} does not exist")
    return settings


class _Progress:
    """A rich progress bar on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0
        self._done = -1
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()

    def __call__(self, done: int, total: int) -> None:
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task(self.label, total=total)
            self._bar.update(self._task, completed=done, total=total)
            return
        now = time.monotonic()
        if done != self._done and (now - self._last >= 2.0 or done >= total):
            self._last, self._done = now, done
            print(f"{self.label}: {done}/{total} events", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _specs(names: list[str] | None) -> list[Any]:
    from projections.catalog import CATALOG, spec_for

    if not names:
        return list(CATALOG)
    try:
        return [spec_for(n) for n in dict.fromkeys(names)]
    except KeyError as e:
        raise CarelogError(str(e.args[0])) from e


def _replay(args: argparse.Namespace) -> int:
    from adapters.bootstrap import build, build_view
    from adapters.logging import configure_logging
    from projections.rebuild import build_sqlite, rebuild_in_place, rebuild_sqlite
    from projections.replay_feed import AsOf
    from projections.replay_workers import RebuildError
    from projections.timestamps import parse_time

    settings = _settings(args)
    specs = _specs(args.projection)
    as_of = None
    if args.as_of:
        try:
            as_of = AsOf(parse_time(args.as_of, settings.tzinfo()), args.by)
        except ValueError as e:
            raise CarelogError(f"--as-of: expected an ISO 8601 date or time ({e})") from e
    engine = build(settings)
    progress = _Progress("as-of" if as_of else "replay")
    # Worker processes (one per core) log as this process does.
    workers_log = functools.partial(configure_logging, settings.log_format, settings.log_level)
    started = time.perf_counter()
    try:
        if as_of is not None:
            path = args.into or _as_of_path(settings, as_of.time)
            try:
                head = build_sqlite(
                    engine.ingestion,
                    specs,
                    path,
                    as_of=as_of,
                    progress=progress,
                    workers=args.workers,
                    log_setup=workers_log,
                )
            except FileExistsError as e:
                raise CarelogError(str(e)) from e
        elif settings.backend == "sqlite":
            store = settings.sqlite_path()
            head = rebuild_sqlite(
                engine.ingestion,
                specs,
                store,
                progress=progress,
                workers=args.workers,
                log_setup=workers_log,
            )
        else:
            env = settings.eventsourcing_env()
            head = rebuild_in_place(
                engine.ingestion,
                specs,
                engine.views,
                functools.partial(build_view, settings=settings, env=env),  # sent to workers
                progress=progress,
                workers=args.workers,
                log_setup=workers_log,
            )
    except RebuildError as e:
        progress.close()
        print(f"carelog replay: {e}", file=sys.stderr)
        return 1
    finally:
        progress.close()
        engine.close()
    elapsed = time.perf_counter() - started
    names = ", ".join(s.name for s in specs)
    rate = head / elapsed if elapsed > 0 else 0.0
    if as_of is not None:
        print(
            f"{path}: {names} as of {as_of.time.isoformat()} ({as_of.by}), "
            f"read {head} events in {elapsed:.1f} s"
        )
    else:
        print(f"replayed {head} events into {names} in {elapsed:.1f} s ({rate:.0f} events/s)")
    return 0


def _as_of_path(settings: Settings, when: datetime) -> Path:
    folder = settings.sqlite_path().parent if settings.backend == "sqlite" else Path("var")
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return folder / f"as-of-{stamp}.db"


def _history(args: argparse.Namespace) -> int:
    from adapters.bootstrap import build
    from adapters.http.history import resolve_patient
    from projections.timestamps import parse_time

    settings = _settings(args)
    when = None
    if args.as_of:
        try:
            when = parse_time(args.as_of, settings.tzinfo())
        except ValueError as e:
            raise CarelogError(f"--as-of: expected an ISO 8601 date or time ({e})") from e
    engine = build(settings)
    try:
        engine.runner.catch_up()
        patient_id = resolve_patient(engine.views, args.patient)
        if patient_id is None:
            print(f"carelog history: patient {args.patient} is not known", file=sys.stderr)
            return 1
        history = engine.views["history"]
        events = history.history(patient_id, when)
        cut = f" as of {when.isoformat()}" if when else ""
        print(f"patient {patient_id}: {len(events)} event(s){cut}")
        survivor = history.merged_into(patient_id)
        if survivor:
            print(f"(merged into patient {survivor})")
        raw = _raw_reader(engine) if args.raw else None
        for event in events:
            _print_event(event, raw)
    finally:
        engine.close()
    return 0


def _raw_reader(engine: Any) -> Callable[[str], str]:
    def read(message_id: str) -> str:
        message = engine.ingestion.repository.get(UUID(message_id))
        return str(message.raw)

    return read


def _print_event(event: Any, raw: Callable[[str], str] | None) -> None:
    e = event.entry
    merged = f"  [merged from {event.merged_from}]" if event.merged_from else ""
    summary = f"  {e.summary}" if e.summary else ""
    print(
        f"#{e.notification_id}  recorded {e.recorded_at}  occurred {e.occurred_at}  "
        f"{e.event_type}  {e.aggregate_id} v{e.aggregate_version}{summary}{merged}"
    )
    m = event.message
    if m is not None:
        print(
            f"    source {m.message_type} control id {m.control_id} from "
            f"{m.sending_application}/{m.sending_facility} (message {m.message_id})"
        )
        if raw is not None:
            for segment in raw(m.message_id).replace("\r\n", "\r").replace("\n", "\r").split("\r"):
                if segment:
                    print(f"      {segment}")
    elif e.source_message_id:
        print(f"    source message {e.source_message_id}")


def _verify(args: argparse.Namespace) -> int:
    from adapters.bootstrap import build
    from projections.audit import verify

    settings = _settings(args)
    engine = build(settings)
    progress = _Progress("verify")
    try:
        assert engine.sealer is not None  # not a memory store (checked in _settings)
        app = engine.ingestion
        report = verify(
            app.recorder,
            app.mapper,
            engine.sealer,
            holes_allowed=settings.backend == "postgres",
            progress=progress,
        )
        progress.close()
        how = (
            "HMAC-SHA256 (CARELOG_SEAL_KEY)"
            if report.keyed
            else "SHA-256 without a key: proves consistency, not authenticity"
        )
        for fault in report.faults[:20]:
            print(f"position {fault.position}: {fault.kind}: {fault.text}")
        if len(report.faults) > 20:
            print(f"... and {len(report.faults) - 20} more")
        if not report.intact:
            print(
                f"NOT INTACT: first bad position {report.first_bad} "
                f"({len(report.faults)} fault(s) in {report.records} records; seals: {how})"
            )
            if args.seal:
                print("not sealing: the history is not intact")
            return 1
        print(
            f"intact: {report.records} records up to position {report.head}, "
            f"sealed up to {report.sealed_up_to}; seals: {how}"
        )
        if report.pruned:
            print(f"({report.pruned} rejected message record(s) deleted by retention)")
        if report.holes:
            print(f"({report.holes} unused position(s): rolled-back inserts, no seal claims them)")
        if report.unsealed_from:
            if args.seal:
                sealed = engine.sealer.seal()
                print(f"sealed {sealed} record(s) from position {report.unsealed_from}")
            else:
                print(
                    f"positions {report.unsealed_from}..{report.head} are not sealed yet "
                    "(checked otherwise; `carelog verify --seal` seals them)"
                )
    finally:
        progress.close()
        engine.close()
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "replay": _replay,
    "history": _history,
    "verify": _verify,
}
