"""The parts `carelog serve` is made of, each started and stopped in its own function.

``adapters.bootstrap.serve`` puts them in order: the writer, the background
tasks (relay, projections, sealer, each behind its lease where several
processes share a store), the MLLP and HTTP listeners, the health and metrics
callbacks, and the shutdown order that loses nothing. Keeping each seam here
lets the order stay readable in one short function.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn

from adapters.health import (
    StoreProbe,
    projection_cause,
    relay_cause,
    store_cause,
    store_check,
)
from adapters.metrics import Figure, counters
from adapters.mllp.server import LogRefused, MLLPServer
from adapters.transport import require_tls12
from adapters.writer import GroupCommitWriter
from engine.application.outcome import IngestOutcome
from engine.application.rejections import refused_frame
from engine.errors import ConfigError
from engine.ports import Fault
from projections.audit import Sealer

if TYPE_CHECKING:
    from adapters.bootstrap import Engine

__all__ = [
    "Background",
    "Http",
    "health_of",
    "metrics_of",
    "mllp_server",
    "nudger",
    "settle_heap",
    "start_background",
    "start_http",
    "start_writer",
    "store_figures",
    "until_signalled",
]

log = structlog.get_logger(__name__)

# In `serve`, background projection rounds start at least this far apart: under load the
# commits of that time are projected in one catch-up (each has fixed costs: head and
# tracking reads, one transaction per view), and read models trail by tens of ms at most.
# An idle server's first commit is still projected at once.
PROJECTION_MIN_INTERVAL_S = 0.05
# Young-generation threshold of the cyclic GC while serving: ingestion allocates many
# short-lived containers, and the default (700) runs a collection every few messages.
GC_GEN0_THRESHOLD = 10_000


def nudger(engine: Engine) -> Callable[[], None]:
    """Wakes what follows the store (the relay or the projections, and the sealer) after a commit.

    Built on the event loop; safe to call from the writer thread.
    """
    loop = asyncio.get_running_loop()
    relay = engine.relay

    def nudge() -> None:
        if relay is not None:
            loop.call_soon_threadsafe(relay.nudge)
        else:
            engine.runner.nudge()
        if engine.sealer is not None:
            engine.sealer.nudge()

    return nudge


def start_writer(
    engine: Engine, on_recorded: Callable[..., None], nudge: Callable[[], None]
) -> GroupCommitWriter:
    """The single writer thread, calling ``nudge`` after each commit that wrote events."""

    def committed(outcomes: list[IngestOutcome]) -> None:
        if any(o.events_written for o in outcomes):
            nudge()

    engine.ingestion.on_recorded = on_recorded
    return GroupCommitWriter(engine.ingestion.ingest_many, on_commit=committed)


@dataclass
class Background:
    """The tasks beside the listeners: relay or projections, and the sealer."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def finish(self, engine: Engine) -> None:
        """Lets the relay publish what was committed, then ends every task (leases go)."""
        if engine.relay is not None:
            engine.relay.nudge()
            await asyncio.sleep(0)
        self.stop.set()
        for task in self.tasks:
            await task  # a seal lease goes: the final seal in close() is safe beside another


def start_background(engine: Engine) -> Background:
    """Starts the relay (with Kafka) or the projections, and the sealer, leases permitting."""
    background = Background()
    engine.runner.min_interval_s = PROJECTION_MIN_INTERVAL_S
    if engine.relay is not None:  # with Kafka, read models are built by `carelog worker`
        background.tasks.append(asyncio.create_task(engine.relay.run(background.stop)))
    elif engine.projection_lease is not None:
        engine.projecting = False  # until the lease is ours
        background.tasks.append(
            asyncio.create_task(
                _when_leading(
                    engine.projection_lease, background.stop, lambda: _start_projecting(engine)
                )
            )
        )
    else:
        engine.runner.start()
    sealer = engine.sealer
    if sealer is not None and engine.seal_lease is not None:
        background.tasks.append(
            asyncio.create_task(
                _when_leading(engine.seal_lease, background.stop, lambda: _start_sealing(sealer))
            )
        )
    elif sealer is not None:
        sealer.start()
    days = engine.settings.message_log_retention_days
    alone = engine.relay is None and engine.projection_lease is None  # else: a scheduled job
    if days > 0 and alone and engine.settings.backend != "memory":
        from adapters.retention import retention_loop  # hourly: docs/data-at-rest.md

        background.tasks.append(asyncio.create_task(retention_loop(engine, background.stop, days)))
    return background


def mllp_server(engine: Engine, writer: GroupCommitWriter, **options: Any) -> MLLPServer:
    """The MLLP listener of ``engine.settings``, ingesting through ``writer``."""
    settings = engine.settings
    metrics = engine.metrics

    async def ingest(raw: bytes, channel: str) -> IngestOutcome:
        started = time.perf_counter()
        outcome = await writer.submit(raw, channel)
        message = outcome.message
        metrics.observe(
            outcome.ack_code,
            time.perf_counter() - started,
            sender=f"{message.sending_application}^{message.sending_facility}" if message else "",
            message_type=outcome.message_type,
            duplicate=outcome.duplicate,
        )
        return outcome

    if settings.message_log and "log_refused" not in options:
        options["log_refused"] = _refusal_logger(engine, writer)
    server = MLLPServer(
        ingest,
        host=settings.mllp_host,
        port=settings.mllp_port,
        max_frame_bytes=settings.max_frame_bytes,
        idle_timeout_s=settings.idle_timeout_s,
        **options,
    )
    metrics.mllp_open.set_function(lambda: server.open_connections)
    return server


def _refusal_logger(engine: Engine, writer: GroupCommitWriter) -> LogRefused:
    """Frames the listener refuses (oversize, sender rule) into the message log, on the writer."""

    async def log_refused(
        raw: bytes, channel: str, identities: tuple[str, ...], text: str, faults: Sequence[Fault]
    ) -> None:
        entry = refused_frame(
            raw,
            channel,
            identities=identities,
            ack_text=text,
            faults=faults,
            received_at=engine.ingestion.clock.now(),
        )
        await writer.call(lambda: engine.ingestion.record_refused(entry))

    return log_refused


def health_of(
    engine: Engine, writer: GroupCommitWriter | None = None
) -> Callable[[], dict[str, Any]]:
    """`GET /health`'s body: ``ready`` false and each cause named (adapters/health.py).

    With Kafka the relay's state, else the projections'; the store's writability
    either way (a probe, and the writer's last commit).
    """
    settings = engine.settings
    relay = engine.relay
    probe = StoreProbe(store_check(settings))

    def health() -> dict[str, Any]:
        causes = []
        body: dict[str, Any] = {"store": settings.backend}
        if relay is not None:
            causes.append(relay_cause(relay, settings.health_relay_grace_s))
            body["relay"] = {
                "leader": relay.leader,
                "published_position": relay.last_published,
                "error": type(relay.error).__name__ if relay.error else None,
            }
        else:
            causes.append(projection_cause(engine.runner))
            body["projection_position"] = engine.runner.position
            body["projections"] = engine.runner.positions()
        causes.append(store_cause(probe, writer.failing if writer is not None else None))
        named = [c for c in causes if c is not None]
        return {"ready": not named, "causes": named, **body}

    return health


def metrics_of(
    engine: Engine, writer: GroupCommitWriter, *extra: Callable[[], dict[str, float]]
) -> Callable[[], str]:
    """`GET /metrics`'s text: the counters of ``engine.metrics`` and the figures read per scrape.

    Registers what is read at each scrape (writer, relay or projections, the
    store) on ``engine.metrics``; ``extra`` adds counters of other parts (e.g.
    TLS refusals, rate limits). Call once per engine.
    """
    metrics = engine.metrics
    # Messages per commit (group commit at work) = the ratio of these two.
    metrics.add_figures(
        counters(
            lambda: {
                "carelog_writer_commits_total": writer.batches,
                "carelog_writer_messages_total": writer.messages,
            },
            "Group commits of the writer, and the messages they held.",
        )
    )
    for more in extra:
        metrics.add_figures(counters(more, "Refusals counted by the transport."))
    metrics.add_figures(lambda: store_figures(engine))
    return metrics.render


def store_figures(engine: Engine) -> Iterator[Figure]:
    """Positions, lags and the store's size, read at scrape time."""
    head = engine.ingestion.recorder.max_notification_id() or 0
    yield Figure("carelog_store_head_position", "The store's last notification id.", head)
    size = engine.store_size()
    if size is not None:
        yield Figure("carelog_store_bytes", "Bytes the store takes on disk.", size)
    relay = engine.relay
    if relay is not None:
        recorded = relay.position.get()
        yield Figure(
            "carelog_relay_published_position", "Last notification id published.", recorded
        )
        yield Figure(
            "carelog_relay_lag_events", "Events stored but not yet published.", head - recorded
        )
        yield Figure(
            "carelog_relay_published_total",
            "Events this process published.",
            relay.published,
            kind="counter",
        )
        yield Figure(
            "carelog_relay_lag_p99_seconds",
            "99th percentile of recent commit-to-acknowledged lags.",
            relay.lag_p99_s(),
        )
        yield Figure("carelog_relay_leader", "1 while this process publishes.", int(relay.leader))
        return
    positions = engine.runner.positions()
    yield Figure(
        "carelog_projection_position",
        "Highest notification id every read model has seen.",
        min(positions.values(), default=0),
    )
    for name, position in sorted(positions.items()):
        yield Figure(
            "carelog_projection_lag_events",
            "Events stored but not yet applied, per read model.",
            max(0, head - position),
            {"read_model": name},
        )


@dataclass
class Http:
    """The running uvicorn server and the port it got."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_http(config: uvicorn.Config) -> Http:
    """Starts uvicorn on the loop and waits until it listens.

    Raises:
        ConfigError: it could not listen (port taken, bad certificate).
    """
    config.load()  # builds uvicorn's SSL context, whose floor is raised to TLS 1.2
    require_tls12(config.ssl)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # its own error first, if it raised one
        raise ConfigError(f"CARELOG_HTTP: could not serve on {config.host}:{config.port}")
    return Http(server, task, server.servers[0].sockets[0].getsockname()[1])


async def until_signalled() -> None:
    """Returns at the first SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def settle_heap() -> None:
    """Moves everything built at start-up out of the cyclic GC's sight (``gc.freeze``).

    Modules, the app and the engine live as long as the process; without this every
    full collection walks them again while messages wait.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


async def _when_leading(lease: Any, stop: asyncio.Event, start: Callable[[], None]) -> None:
    """Calls ``start`` once this process holds ``lease``; gives it back at ``stop``.

    Several `serve` on one PostgreSQL share work that only one of them may do
    (the in-process projections, the sealer: each would redo the whole log and
    race on the same rows); the others wait, and one takes over when the
    holder goes.
    """
    while not stop.is_set():
        if await asyncio.to_thread(lease.acquire):
            start()
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    await stop.wait()
    await asyncio.to_thread(lease.release)


def _start_projecting(engine: Engine) -> None:
    engine.projecting = True
    engine.runner.start()
    log.info("projection.leading")


def _start_sealing(sealer: Sealer) -> None:
    sealer.start()
    log.info("seal.leading")


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `serve` owns shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
