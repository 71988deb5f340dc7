"""`carelog skip-event`: lets a read model stuck on one event go on without it.

When /health names a projection stuck on an event (a read model's bug that a
fix cannot reach soon), the operator may record that event as applied for
that read model only: its position moves past it and the model catches up
with everything after. The event stays in the store; the read model lacks
its effect until rebuilt (`carelog replay --projection KEY`) once the bug is
fixed. Refused when the read model is already past that position.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import structlog

from adapters.audit_cli import add_verbose, tool_settings
from engine.errors import ConfigError

__all__ = ["HANDLERS", "add_parsers"]

log = structlog.get_logger(__name__)


def add_parsers(sub: Any) -> None:
    """Adds ``skip-event`` to ``carelog``'s subparsers."""
    skip = sub.add_parser(
        "skip-event",
        help="record one event as applied by a read model stuck on it (/health names both)",
    )
    skip.add_argument("read_model", help="the read model (patients_v1, or its key: patients)")
    skip.add_argument("position", type=int, help="the event's notification id (/health's)")
    skip.add_argument(
        "--partition", type=int, help="a worker's partition (its /health names it); else serve's"
    )
    skip.add_argument("--store", help="sqlite:///PATH or postgresql://... (env CARELOG_STORE)")
    add_verbose(skip)


def _skip(args: argparse.Namespace) -> int:
    # Here, not at the top: `carelog send` and the other tools need none of it.
    from eventsourcing.persistence import Tracking

    from adapters.bootstrap import build_view
    from adapters.kafka.worker import tracking_name
    from engine.application.ingestion import Ingestion
    from projections.catalog import CATALOG

    settings = tool_settings(args)
    if args.store:
        settings = replace(settings, store=args.store)
    if settings.backend == "memory":
        raise ConfigError("carelog skip-event: --store must be sqlite:///PATH or postgresql://...")
    spec = next((s for s in CATALOG if args.read_model in (s.key, s.name)), None)
    if spec is None:
        names = ", ".join(s.name for s in CATALOG)
        raise ConfigError(f"skip-event: no read model {args.read_model!r} (one of {names})")
    if args.position < 1:
        raise ConfigError("skip-event: the position is a notification id (1 or more)")
    view = build_view(spec, settings, settings.eventsourcing_env())
    try:
        name = Ingestion.name
        if args.partition is not None:
            name = tracking_name(name, args.partition)
        current = view.max_tracking_id(name) or 0
        if current >= args.position:
            raise ConfigError(
                f"skip-event: {spec.name} is at {current}, already past {args.position}"
            )
        view.insert_tracking(Tracking(name, args.position))
    finally:
        datastore = getattr(view, "datastore", None)
        if datastore is not None:
            datastore.close()
    log.warning("projection.skipped", projection=spec.name, notification_id=args.position)
    print(
        f"{spec.name}: notification {args.position} recorded as applied without its effect; "
        f"rebuild with `carelog replay --projection {spec.key}` once fixed"
    )
    return 0


HANDLERS = {"skip-event": _skip}
