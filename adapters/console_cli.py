"""`carelog console-link`, `reprocess` and `prune-messages`: the console's commands.

``console-link`` prints a one-time sign-in link for the console (embedded
issuer). ``reprocess`` resubmits refused messages from the message log: by id,
or every pending one a filter selects, in the order they arrived; one line
per attempt on stdout, exit 1 if any is still refused. It writes to the
store directly (another writer beside a running server is safe: conflicts
are retried), so run it where the store is reachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import Any

from adapters.audit_cli import add_verbose, tool_settings
from engine.config import Settings
from engine.errors import CarelogError

__all__ = ["HANDLERS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Adds ``console-link`` and ``reprocess`` to ``carelog``'s subparsers."""
    link = sub.add_parser("console-link", help="print a one-time sign-in link for the console")
    link.add_argument("--sub", required=True, help="who signs in (recorded with their actions)")
    link.add_argument("--base", help="the console's base URL (default from CARELOG_HTTP)")
    link.add_argument("--ttl", default="5m", help="how long the link stays valid (default 5m)")
    link.add_argument("--store", help="the store whose data directory holds the key")
    add_verbose(link)

    again = sub.add_parser("reprocess", help="resubmit rejected messages from the message log")
    again.add_argument("ids", nargs="*", help="message log entry ids (from the console)")
    again.add_argument("--cause", help="every pending message of this cause (error queue)")
    again.add_argument("--visit", help="every pending message naming this visit number")
    again.add_argument("--mrn", help="every pending message naming this MRN")
    again.add_argument("--sender", help="every pending message from this MSH-3")
    again.add_argument("--type", dest="message_type", help="every pending ADT^A02 (or ADT)")
    again.add_argument(
        "--new-control-id",
        default="",
        help="resubmit the one entry given with this MSH-10 (for a refused reused control id)",
    )
    again.add_argument("--by", default=os.environ.get("USER", "cli"), help="who asks (recorded)")
    again.add_argument("--store", help="sqlite:///PATH or postgresql://... (env CARELOG_STORE)")
    add_verbose(again)

    prune = sub.add_parser(
        "prune-messages", help="delete rejected messages and log rows older than the retention"
    )
    prune.add_argument("--days", type=int, help="keep this many days (env ..._RETENTION_DAYS)")
    prune.add_argument("--no-vacuum", action="store_true", help="delete only; reclaim later")
    prune.add_argument("--full", action="store_true", help="PostgreSQL: VACUUM FULL (locks)")
    prune.add_argument("--store", help="sqlite:///PATH or postgresql://... (env CARELOG_STORE)")
    add_verbose(prune)


def _settings(args: argparse.Namespace, settings: Settings) -> Settings:
    if args.store:
        settings = replace(settings, store=args.store)
    settings.eventsourcing_env()
    return settings


def _link(args: argparse.Namespace) -> int:
    from adapters.console.session import mint_link
    from adapters.security.issuer import parse_duration
    from adapters.security.setup import embedded_issuer

    settings = _settings(args, tool_settings(args))
    issuer = embedded_issuer(settings)
    scheme = "https" if settings.http_tls_cert else "http"
    base = args.base or f"{scheme}://{settings.http_host}:{settings.http_port}"
    code = mint_link(issuer, args.sub, parse_duration(args.ttl))
    print(f"{base.rstrip('/')}/console/signin?code={code}")
    return 0


def _reprocess(args: argparse.Namespace) -> int:
    from adapters.bootstrap import build
    from adapters.reprocess import pending_in_order, reprocess
    from projections.messages import LogFilter

    query = LogFilter(
        cause=args.cause or "",
        sender=args.sender or "",
        message_type=args.message_type or "",
        key_kind="visit" if args.visit else "mrn" if args.mrn else "",
        key_value=args.visit or args.mrn or "",
    )
    filtered = any((query.cause, query.sender, query.message_type, query.key_value))
    if not args.ids and not filtered:
        raise CarelogError("give entry ids, or a filter (--cause, --visit, --mrn, ...)")
    if args.new_control_id and (len(args.ids) != 1 or filtered):
        raise CarelogError("--new-control-id resubmits one message: give exactly one entry id")
    engine = build(_settings(args, tool_settings(args)))
    try:
        engine.runner.catch_up()
        log = engine.views["messages"]
        ids = list(args.ids) or pending_in_order(log, query)
        refused = 0
        for entry_id in ids:
            attempt = reprocess(
                entry_id,
                args.by.replace(":", "_"),
                load=engine.ingestion.current,
                ingest=engine.ingestion.ingest,
                log=log,
                new_control_id=args.new_control_id,
            )
            note = " skipped (already accepted)" if attempt.skipped else ""
            note += " duplicate" if attempt.duplicate else ""
            print(f"{entry_id} {attempt.ack_code} {attempt.new_entry}{note}")
            refused += attempt.ack_code != "AA"
        engine.runner.catch_up()
    finally:
        engine.close()
    if not ids:
        print("nothing to reprocess", file=sys.stderr)
    return 1 if refused else 0


def _prune(args: argparse.Namespace) -> int:
    """Deletes rejected messages and log rows older than the retention, then reclaims space."""
    from datetime import UTC, datetime, timedelta

    from adapters.bootstrap import build
    from adapters.retention import prune_messages, reclaim_postgres, reclaim_sqlite

    settings = _settings(args, tool_settings(args))
    days = args.days if args.days is not None else settings.message_log_retention_days
    if days <= 0:
        raise CarelogError("no retention: give --days N or CARELOG_MESSAGE_LOG_RETENTION_DAYS")
    engine = build(settings)
    sizes: tuple[int, int] | None = None
    try:
        engine.runner.catch_up()
        result = prune_messages(engine, datetime.now(UTC) - timedelta(days=days))
        if settings.backend == "postgres" and not args.no_vacuum:
            sizes = reclaim_postgres(engine, full=args.full)
    finally:
        engine.close()
    print(
        f"{result.index_rows} message log entries older than {days} days dropped, "
        f"{result.rejected_deleted} rejected message(s) deleted from the store"
    )
    if settings.backend == "sqlite" and not args.no_vacuum:
        import sqlite3

        try:
            sizes = reclaim_sqlite(settings.sqlite_path())
        except sqlite3.OperationalError as e:
            print(f"could not compact the store now ({e}): run it again", file=sys.stderr)
    if sizes is not None:
        print(f"store: {sizes[0]} bytes before, {sizes[1]} after")
    return 0


HANDLERS = {"console-link": _link, "reprocess": _reprocess, "prune-messages": _prune}
