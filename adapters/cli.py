"""`carelog`: the command line (CONTRACT.md). Parses arguments, builds Settings, dispatches.

Each subcommand turns CarelogError into a one-line message on stderr and a
non-zero exit code; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.audit_cli import HANDLERS as AUDIT_HANDLERS
from adapters.audit_cli import add_parsers as add_audit_parsers
from adapters.crypto.cli import HANDLERS as CRYPTO_HANDLERS
from adapters.crypto.cli import add_parsers as add_crypto_parsers
from engine.config import Settings, parse_host_port
from engine.errors import CarelogError
from engine.hl7.stream import split_messages

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carelog", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the engine (MLLP and HTTP listeners)")
    serve.add_argument("--store", help="sqlite:///PATH, postgresql://... (env CARELOG_STORE)")
    serve.add_argument("--mllp", help="HOST:PORT for MLLP (env CARELOG_MLLP)")
    serve.add_argument("--http", help="HOST:PORT for HTTP (env CARELOG_HTTP)")
    serve.add_argument("--kafka", help="Kafka bootstrap servers (env CARELOG_KAFKA)")

    worker = sub.add_parser(
        "worker", help="build every read model from the Kafka topic (faust consumer group)"
    )
    worker.add_argument("--store", help="postgresql://... for the read models (env CARELOG_STORE)")
    worker.add_argument("--kafka", help="Kafka bootstrap servers (env CARELOG_KAFKA)")

    send = sub.add_parser("send", help="send HL7 files over MLLP, one message per ACK")
    send.add_argument("files", nargs="+", type=Path)
    send.add_argument("--to", required=True, help="HOST:PORT of the receiver")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an ACK")
    send.add_argument("--retries", type=int, default=3, help="resends after a timeout")
    send.add_argument("--tls-ca", help="MLLP over TLS: CA file verifying the receiver")
    send.add_argument("--tls-cert", help="MLLP over TLS: this sender's certificate (PEM)")
    send.add_argument("--tls-key", help="the key of --tls-cert (PEM)")

    validate = sub.add_parser("validate", help="check HL7 files with the native validator")
    validate.add_argument("files", nargs="+", type=Path)
    validate.add_argument(
        "--strict", action="store_true", help="the strict level (schemas/README.md)"
    )
    add_audit_parsers(sub)  # replay, history, verify
    add_crypto_parsers(sub)  # erase, keys rotate, backup, restore
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env(os.environ)
    changes: dict[str, Any] = {}  # checked by Settings.eventsourcing_env below
    if args.store:
        changes["store"] = args.store
    if getattr(args, "mllp", None):
        changes["mllp_host"], changes["mllp_port"] = parse_host_port(args.mllp, "--mllp")
    if getattr(args, "http", None):
        changes["http_host"], changes["http_port"] = parse_host_port(args.http, "--http")
    if args.kafka:
        changes["kafka"] = args.kafka
    settings = replace(settings, **changes)
    settings.eventsourcing_env()
    return settings


def _serve(args: argparse.Namespace) -> int:
    from adapters.bootstrap import build, serve
    from adapters.logging import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    engine = build(settings)
    asyncio.run(serve(engine))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from adapters.bootstrap import run_worker
    from adapters.logging import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    run_worker(settings)
    return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CarelogError(f"{path}: cannot read ({e.strerror})") from e


def _send(args: argparse.Namespace) -> int:
    from adapters.mllp.client import MLLPClient

    host, port = parse_host_port(args.to, "--to")
    messages = [m for path in args.files for m in split_messages(_read(path))]
    context = None
    if args.tls_ca or args.tls_cert:
        from adapters.mllp.tls import client_context

        context = client_context(args.tls_ca or "", args.tls_cert or "", args.tls_key or "")
    with MLLPClient(
        host, port, timeout_s=args.timeout, retries=args.retries, ssl_context=context
    ) as client:
        summary = client.send_all(messages)
    for detail in summary.details:
        print(detail, file=sys.stderr)
    print(summary.line())
    return 0 if summary.all_accepted else 1


def _validate(args: argparse.Namespace) -> int:
    from native import NativeMessageValidator

    validator = NativeMessageValidator(strict=args.strict)
    bad = 0
    total = 0
    for path in args.files:
        messages = split_messages(_read(path))
        if not messages:
            print(f"{path}:0:@0: 100 no HL7 message found")
            bad += 1
        for number, faults in enumerate(validator.validate_many(messages), 1):
            total += 1
            errors = [f for f in faults if f.severity == "E"]
            bad += bool(errors)
            for fault in faults:
                print(f"{path}:{number}:{fault.location()}: {fault.code} {fault.text}")
    print(f"{total} message(s), {bad} invalid", file=sys.stderr)
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``carelog`` console script."""
    args = _parser().parse_args(argv)
    # Every file carelog creates (store, WAL, scratch and as-of files, backups, keys)
    # is its owner's only: they hold patient data or keys (docs/data-at-rest.md).
    os.umask(0o077)
    handlers = {
        "serve": _serve,
        "send": _send,
        "validate": _validate,
        "worker": _worker,
        **AUDIT_HANDLERS,
        **CRYPTO_HANDLERS,
    }
    try:
        return handlers[args.command](args)
    except CarelogError as e:
        print(f"carelog {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
