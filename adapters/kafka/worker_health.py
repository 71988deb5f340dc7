"""`carelog worker`'s HTTP health endpoint: GET /health and GET /metrics on 127.0.0.1.

The worker runs faust's event loop; this endpoint runs beside it on a thread
of its own (the standard library's HTTP server: two read-only routes need no
framework), so it answers even while the loop is busy or stuck. 503 when the
worker cannot apply: its broker has been unreachable past the grace, a read
model is stuck on an event (which one, which position, the error's class), or
the store takes no writes. Bodies name identifiers and class names only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from adapters.health import BrokerWatch, StoreProbe, store_cause, store_check
from adapters.kafka.worker import ProjectionApplier
from adapters.metrics import CONTENT_TYPE, Figure, Metrics
from engine.config import Settings, parse_host_port

__all__ = ["WorkerHealth", "worker_health_of"]

log = structlog.get_logger(__name__)


def worker_health_of(
    settings: Settings, applier: ProjectionApplier
) -> Callable[[], dict[str, Any]]:
    """The worker's /health body: ``ready`` and each cause named."""
    broker = BrokerWatch(settings.kafka)
    probe = StoreProbe(store_check(settings))

    def health() -> dict[str, Any]:
        causes = [broker.cause(settings.health_relay_grace_s)]
        stuck = applier.stuck
        if stuck is not None:
            causes.append(
                {"cause": "projection", "detail": "a read model is stuck on an event", **stuck}
            )
        causes.append(store_cause(probe, None))
        named = [c for c in causes if c is not None]
        return {"ready": not named, "causes": named, **applier.status()}

    return health


def worker_metrics(applier: ProjectionApplier) -> Metrics:
    """The worker's figures: what it applied, per partition, and its lag."""
    metrics = Metrics()

    def figures() -> Iterator[Figure]:
        yield Figure(
            "carelog_worker_applied_total", "Events applied.", applier.applied, kind="counter"
        )
        yield Figure(
            "carelog_worker_duplicates_total",
            "Redelivered events skipped.",
            applier.duplicates,
            kind="counter",
        )
        for partition, position in sorted(applier.positions.items()):
            yield Figure(
                "carelog_worker_position",
                "Highest store position applied, per partition.",
                position,
                {"partition": str(partition)},
            )
        if applier.lag_s is not None:
            yield Figure(
                "carelog_worker_lag_seconds", "Recorded-to-applied time, last round.", applier.lag_s
            )
        yield Figure(
            "carelog_worker_stuck", "1 while a read model is stuck.", int(bool(applier.stuck))
        )

    metrics.add_figures(figures)
    return metrics


class WorkerHealth:
    """The endpoint's server on a daemon thread; ``port`` is the one it got."""

    def __init__(
        self, address: str, health: Callable[[], dict[str, Any]], metrics: Metrics
    ) -> None:
        host, port = parse_host_port(address, "CARELOG_WORKER_HEALTH")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/health":
                    body = health()
                    data = json.dumps(body).encode()
                    self._answer(200 if body["ready"] else 503, "application/json", data)
                elif self.path == "/metrics":
                    self._answer(200, CONTENT_TYPE, metrics.render().encode())
                else:
                    self._answer(404, "application/json", b'{"detail": "not found"}')

            def _answer(self, status: int, media: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no access line per probe: a health check every few seconds is noise

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = host
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="worker-health", daemon=True
        )

    def start(self) -> WorkerHealth:
        self._thread.start()
        log.info("worker.health_listening", host=self.host, port=self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
