"""The composition root: builds every long-lived object from Settings, and nothing else does.

``build`` wires the engine for any command; ``serve`` runs the listeners of
`carelog serve` on one asyncio loop (MLLP, HTTP) with the projection runner
on a thread and ingestion on a single writer thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
import uvicorn
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment

from adapters.http.app import create_app
from adapters.metrics import Metrics
from adapters.mllp.server import MLLPServer
from adapters.writer import GroupCommitWriter
from engine.application.ingestion import Ingestion
from engine.application.outcome import IngestOutcome
from engine.config import Settings
from engine.errors import ConfigError
from engine.ports import MessageValidator
from projections.catalog import CATALOG, ProjectionSpec
from projections.patients import PatientView
from projections.runner import PollingProjectionRunner

__all__ = ["Engine", "SystemClock", "build", "build_view", "serve"]

log = structlog.get_logger(__name__)


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Engine:
    """Everything one carelog process runs on."""

    settings: Settings
    ingestion: Ingestion
    views: dict[str, Any]
    runner: PollingProjectionRunner
    metrics: Metrics

    @property
    def patients(self) -> PatientView:
        """The patient index."""
        view: PatientView = self.views["patients"]
        return view

    def close(self) -> None:
        """Stops the runner and closes the store's connections."""
        self.runner.stop()
        self.ingestion.close()
        for view in self.views.values():
            datastore = getattr(view, "datastore", None)  # memory views have none
            if datastore is not None:
                datastore.close()


def build_view(spec: ProjectionSpec, settings: Settings, env: dict[str, str]) -> Any:
    """``spec``'s view on the store's backend, in the same database as the events."""
    module = env["PERSISTENCE_MODULE"]
    if module == "eventsourcing.sqlite":
        return SQLiteFactory(env).tracking_recorder(spec.sqlite)  # type: ignore[arg-type]
    if module == "eventsourcing.postgres":
        # Named environment: the tracking table becomes <projection name>_tracking.
        factory = PostgresFactory(Environment(spec.name, env))
        return factory.tracking_recorder(spec.postgres)  # type: ignore[arg-type]
    if module == "eventsourcing.popo":
        return spec.memory()
    raise ConfigError(f"CARELOG_STORE: no read models for {settings.backend}")


def build(settings: Settings, *, validator: MessageValidator | None = None) -> Engine:
    """Wires the engine for ``settings``; ``validator`` defaults to the native one.

    Raises:
        ConfigError: the store cannot be used.
    """
    env = settings.eventsourcing_env()
    if settings.backend == "sqlite":
        settings.sqlite_path().parent.mkdir(parents=True, exist_ok=True)
    if validator is None:
        from native import NativeMessageValidator  # the compiled module loads only here

        validator = NativeMessageValidator()
    ingestion = Ingestion(
        env,
        validator=validator,
        clock=SystemClock(),
        site_timezone=settings.tzinfo(),
        processing_ids=settings.processing_ids,
    )
    views = {spec.key: build_view(spec, settings, env) for spec in CATALOG}
    runner = PollingProjectionRunner(
        ingestion, *(spec.project(views[spec.key]) for spec in CATALOG)
    )
    return Engine(settings, ingestion, views, runner, Metrics())


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `serve` owns shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(engine: Engine) -> None:
    """Runs MLLP and HTTP until SIGINT/SIGTERM, then shuts down without losing a message."""
    settings = engine.settings

    def committed(outcomes: list[IngestOutcome]) -> None:
        if any(o.events_written for o in outcomes):
            engine.runner.nudge()

    writer = GroupCommitWriter(engine.ingestion.ingest_many, on_commit=committed)

    async def ingest(raw: bytes, channel: str) -> IngestOutcome:
        started = time.perf_counter()
        outcome = await writer.submit(raw, channel)
        engine.metrics.observe(outcome.ack_code, (time.perf_counter() - started) * 1000)
        return outcome

    engine.runner.start()
    mllp = MLLPServer(
        ingest,
        host=settings.mllp_host,
        port=settings.mllp_port,
        max_frame_bytes=settings.max_frame_bytes,
        idle_timeout_s=settings.idle_timeout_s,
    )
    await mllp.start()

    def health() -> dict[str, Any]:
        return {
            "ready": engine.runner.error is None,
            "store": settings.backend,
            "projection_position": engine.runner.position,
            "projections": engine.runner.positions(),
        }

    def metrics() -> str:
        return engine.metrics.render({"carelog_projection_position": engine.runner.position})

    app = create_app(engine.views, health=health, metrics=metrics)
    http = _QuietServer(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    http_task = asyncio.create_task(http.serve())
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():
        await mllp.stop()
        writer.close()
        http_task.result()
        raise ConfigError(
            f"CARELOG_HTTP: could not serve on {settings.http_host}:{settings.http_port}"
        )
    http_port = http.servers[0].sockets[0].getsockname()[1]
    log.info(
        "serve.ready",
        mllp=f"{settings.mllp_host}:{mllp.port}",
        http=f"{settings.http_host}:{http_port}",
        mllp_port=mllp.port,
        http_port=http_port,
        store=settings.backend,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("serve.stopping")
    await mllp.stop()  # in-flight messages finish and are acknowledged first
    http.should_exit = True
    await http_task
    writer.close()
    engine.close()
    log.info("serve.stopped")
