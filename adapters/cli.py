"""`carelog`: the command line. Parses arguments, builds Settings, dispatches.

The commands, their flags and exit codes are a fixed outside surface (shown in
README.md and docs/): add to them, do not change them. Each subcommand turns
CarelogError into a one-line message on stderr and a non-zero exit code;
tracebacks are for bugs only. ``serve`` and ``worker`` log at CARELOG_LOG_LEVEL;
the tools print their results and log only warnings unless ``--verbose``.
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
from adapters.audit_cli import add_verbose, tool_settings
from adapters.console_cli import HANDLERS as CONSOLE_HANDLERS
from adapters.console_cli import add_parsers as add_console_parsers
from adapters.crypto.cli import HANDLERS as CRYPTO_HANDLERS
from adapters.crypto.cli import add_parsers as add_crypto_parsers
from adapters.health_cli import HANDLERS as HEALTH_HANDLERS
from adapters.health_cli import add_parsers as add_health_parsers
from engine.config import Settings, parse_host_port, worker_health_address
from engine.errors import CarelogError
from engine.hl7.message import parse_message
from engine.hl7.stream import split_messages
from engine.ports import Fault

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carelog",
        description="carelog: an event-sourced HL7 v2 / FHIR R4 integration engine.",
        epilog="Documentation: README.md and docs/ (configuration: docs/operators.md). "
        "`carelog COMMAND --help` for a command's flags.",
    )
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
    worker.add_argument(
        "--health-port",
        type=int,
        help="answer GET /health and /metrics on 127.0.0.1:PORT (env CARELOG_WORKER_HEALTH)",
    )

    send = sub.add_parser("send", help="send HL7 files over MLLP, one message per ACK")
    send.add_argument("files", nargs="+", type=Path)
    send.add_argument("--to", required=True, help="HOST:PORT of the receiver")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an ACK")
    send.add_argument("--retries", type=int, default=3, help="resends after a timeout")
    send.add_argument("--tls-ca", help="MLLP over TLS: CA file verifying the receiver")
    send.add_argument("--tls-cert", help="MLLP over TLS: this sender's certificate (PEM)")
    send.add_argument("--tls-key", help="the key of --tls-cert (PEM)")
    add_verbose(send)

    validate = sub.add_parser("validate", help="check HL7 files with the native validator")
    validate.add_argument("files", nargs="+", type=Path)
    validate.add_argument(
        "--strict",
        action="store_true",
        help="the strict level (schemas/README.md; also CARELOG_VALIDATION=strict)",
    )
    add_verbose(validate)
    load = sub.add_parser("import", help="load FHIR Bundles and NDJSON through the write path")
    load.add_argument("files", nargs="+", type=Path)
    load.add_argument("--to", help="URL of a running carelog (else the store, directly)")
    load.add_argument("--store", help="sqlite:///PATH, postgresql://... (env CARELOG_STORE)")
    load.add_argument("--token", help="bearer token for --to (env CARELOG_TOKEN)")
    load.set_defaults(kafka=None)
    add_verbose(load)
    token = sub.add_parser(
        "token", help="print a bearer token from the embedded issuer (docs/access-control.md)"
    )
    token.add_argument("--scope", required=True, help='space-separated scopes, e.g. "user/*.rs"')
    token.add_argument("--sub", default="carelog-cli", help="the token's subject (who acts)")
    token.add_argument("--patient", help="the patient a patient/ scope is limited to")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 8h, 7d (at most 30d)")
    token.add_argument("--store", help="the store whose data directory holds the key")
    add_verbose(token)
    add_audit_parsers(sub)  # replay, history, verify
    add_crypto_parsers(sub)  # erase, keys rotate, backup, restore
    add_console_parsers(sub)  # console-link, reprocess
    add_health_parsers(sub)  # skip-event
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
    if getattr(args, "kafka", None):
        changes["kafka"] = args.kafka
    if getattr(args, "health_port", None) is not None:
        changes["worker_health"] = worker_health_address(str(args.health_port), "--health-port")
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


def _token(args: argparse.Namespace) -> int:
    from adapters.security.issuer import parse_duration
    from adapters.security.setup import embedded_issuer

    tool_settings(args)  # logging only: quiet unless --verbose
    if not args.scope.split():
        raise CarelogError("--scope: give at least one scope")
    ttl = parse_duration(args.ttl)
    issuer = embedded_issuer(_settings(args))
    print(issuer.mint(args.scope, subject=args.sub, patient=args.patient, ttl_s=ttl))
    return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CarelogError(f"{path}: cannot read ({e.strerror})") from e


def _send(args: argparse.Namespace) -> int:
    from adapters.mllp.client import MLLPClient

    tool_settings(args)  # logging only: quiet unless --verbose
    host, port = parse_host_port(args.to, "--to")
    messages = [(str(path), m) for path in args.files for m in split_messages(_read(path))]
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


def _processing_id_faults(
    raw: bytes, found: Sequence[Fault], accepted: frozenset[str]
) -> list[Fault]:
    """The 202 ingest answers for a processing id this deployment does not take
    (CARELOG_PROCESSING_IDS): validate says what serve would."""
    if any(f.fatal or f.code == 202 for f in found):
        return []
    try:
        processing_id = parse_message(raw).processing_id
    except CarelogError:
        return []
    if processing_id in accepted:
        return []
    text = (
        f"processing id {processing_id!r} not accepted here "
        f"(CARELOG_PROCESSING_IDS: {', '.join(sorted(accepted))})"
    )
    return [Fault(202, "UNSUPPORTED_PROCESSING_ID", text, "MSH", 1, 11)]


def _validate(args: argparse.Namespace) -> int:
    from native import NativeMessageValidator
    from native.profiles import DEFAULT_SCHEMAS

    # The level, profiles and limits serve uses (CARELOG_VALIDATION, CARELOG_SCHEMAS,
    # CARELOG_MAX_*_BYTES), so that both give the same verdict on the same message.
    settings = tool_settings(args)
    schemas = Path(settings.schemas) if settings.schemas else DEFAULT_SCHEMAS
    if not schemas.is_dir():
        raise CarelogError(f"CARELOG_SCHEMAS: {schemas} is not a directory of message profiles")
    validator = NativeMessageValidator(
        strict=args.strict or settings.validation == "strict",
        profiles=schemas,
        **settings.validator_limits(),
    )
    bad = 0
    total = 0
    for path in args.files:
        messages = split_messages(_read(path))
        if not messages:
            print(f"{path}:0:@0: 100 no HL7 message found")
            bad += 1
        checked = zip(messages, validator.validate_many(messages), strict=True)
        for number, (raw, found) in enumerate(checked, 1):
            faults = [*found, *_processing_id_faults(raw, found, settings.processing_ids)]
            total += 1
            errors = [f for f in faults if f.severity == "E"]
            bad += bool(errors)
            for fault in faults:
                print(f"{path}:{number}:{fault.location()}: {fault.code} {fault.text}")
    print(f"{total} message(s), {bad} invalid", file=sys.stderr)
    return 1 if bad else 0


def _import(args: argparse.Namespace) -> int:
    from adapters.fhir.importer import Progress, import_files, local_writer, remote_writer

    tool_settings(args)  # logging only: quiet unless --verbose
    engine = None
    if args.to:
        token = args.token or os.environ.get("CARELOG_TOKEN", "")
        write = remote_writer(args.to, {"Authorization": f"Bearer {token}"} if token else {})
    else:
        from adapters.bootstrap import build

        engine = build(_settings(args))
        write = local_writer(engine.ingestion)
    progress = Progress()
    try:
        tally = import_files(list(args.files), write, progress)
    finally:
        progress.close()
        if engine is not None:
            engine.close()
    for line in tally.refused:
        print(f"refused {line}", file=sys.stderr)
    print(tally.line())
    return 0 if not tally.refused else 1


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
        "import": _import,
        "token": _token,
        **AUDIT_HANDLERS,
        **CRYPTO_HANDLERS,
        **CONSOLE_HANDLERS,
        **HEALTH_HANDLERS,
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
