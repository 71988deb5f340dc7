"""The composition root: builds every long-lived object from Settings, and nothing else does.

``build`` wires the engine for any command; ``serve`` runs the listeners of
`carelog serve` on one asyncio loop (MLLP, HTTP) with the projection runner
on a thread and ingestion on a single writer thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment

from adapters import transport
from adapters.fhir.routes import FhirWrites
from adapters.health import store_size
from adapters.http.access import AccessControl, build_access
from adapters.http.app import create_app
from adapters.http.ratelimit import RateLimiter, RateLimitMiddleware
from adapters.metrics import Metrics
from adapters.mllp.tls import SenderRefusals
from adapters.postgres_store import FACTORY_TOPIC, PostgresFactory
from adapters.security.access_log import AccessEntry, mllp_refusal_entry, to_records
from adapters.serving import (
    health_of,
    metrics_of,
    mllp_server,
    nudger,
    settle_heap,
    start_background,
    start_http,
    start_writer,
    until_signalled,
)
from adapters.sqlite_store import RECORDER_TOPIC, relax_read_model_sync
from adapters.writer import GroupCommitWriter
from engine.application.ingestion import Ingestion
from engine.config import Settings
from engine.errors import ConfigError
from engine.ports import Fault, MessageValidator
from projections.access import AccessLogView
from projections.audit import Sealer
from projections.catalog import CATALOG, ProjectionSpec
from projections.patients import PatientView
from projections.postgres_schema import PostgresView
from projections.queue.rules import QueueRules, configure_queues
from projections.runner import PollingProjectionRunner

__all__ = ["Engine", "SystemClock", "build", "build_view", "run_worker", "serve"]

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
    relay: Any = None  # adapters.kafka.OutboxRelay with --kafka: serve publishes, workers project
    # PostgreSQL without Kafka: several `serve` may share the database, and only the
    # holder of this lease runs the in-process projections (the others would redo them).
    projection_lease: Any = None
    projecting: bool = True
    sealer: Sealer | None = None  # None on the memory store: nothing to seal
    seal_lease: Any = None  # PostgreSQL: only its holder runs the sealer (like projections)
    # Bytes the store takes on disk (None where unknown): /metrics and the dashboard.
    store_size: Callable[[], float | None] = lambda: None

    @property
    def access_view(self) -> AccessLogView:
        """The access log for auditors (its records are events in this store)."""
        return AccessLogView(self.ingestion.recorder, self.ingestion.mapper)

    def http_views(self) -> dict[str, Any]:
        """The read models the HTTP app serves: the catalog's and the access log."""
        return {**self.views, "access": self.access_view}

    @property
    def patients(self) -> PatientView:
        """The patient index."""
        view: PatientView = self.views["patients"]
        return view

    def close(self) -> None:
        """Stops the runner and closes the store's connections."""
        if self.relay is None and self.projecting:  # with Kafka the workers own them
            self.runner.stop()
        if self.sealer is not None:
            self.sealer.stop()
        self.ingestion.close()
        recorders = [*self.views.values()]
        if self.relay is not None:
            recorders.append(self.relay.position.recorder)
        for recorder in recorders:
            datastore = getattr(recorder, "datastore", None)  # memory views have none
            if datastore is not None:
                datastore.close()


def build_view(spec: ProjectionSpec, settings: Settings, env: dict[str, str]) -> Any:
    """``spec``'s view on the store's backend, in the same database as the events."""
    module = env["PERSISTENCE_MODULE"]
    if module == "eventsourcing.sqlite":
        view = SQLiteFactory(env).tracking_recorder(spec.sqlite)
        return relax_read_model_sync(view)
    if module in ("eventsourcing.postgres", FACTORY_TOPIC):
        # Named environment: the tracking table becomes <projection name>_tracking.
        # Views read and write one transaction at a time: a small pool each, so that
        # several processes with every catalog view fit in max_connections.
        view_env = {**env, "POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "4"}
        factory = PostgresFactory(Environment(spec.name, view_env))
        for attempt in range(1, 6):
            try:
                return factory.tracking_recorder(spec.postgres)
            except OperationalError as e:
                # CREATE ... IF NOT EXISTS still locks the existing tables: a process
                # starting beside running ones (a worker restarted) can deadlock with
                # their writes, and PostgreSQL aborts one side; ours just tries again.
                if "deadlock" not in str(e) or attempt == 5:
                    raise
                time.sleep(0.2 * attempt)
    if module == "eventsourcing.popo":
        return spec.memory()
    raise ConfigError(f"CARELOG_STORE: no read models for {settings.backend}")


def build(settings: Settings, *, validator: MessageValidator | None = None) -> Engine:
    """Wires the engine for ``settings``; ``validator`` defaults to the native one.

    Raises:
        ConfigError: the store cannot be used.
    """
    from adapters.crypto.setup import prepare_keys

    settings = prepare_keys(settings)  # key files on first start (docs/data-at-rest.md)
    configure_queues(QueueRules(settings.queue_classes, settings.queue_locations))
    env = settings.eventsourcing_env()
    if settings.backend == "sqlite":
        settings.sqlite_path().parent.mkdir(parents=True, exist_ok=True)
        env["APPLICATION_RECORDER_TOPIC"] = RECORDER_TOPIC  # reads a batch's aggregates at once
    if settings.backend == "postgres":
        from adapters.postgres_store import RECORDER_TOPIC as POSTGRES_RECORDER

        env["APPLICATION_RECORDER_TOPIC"] = POSTGRES_RECORDER  # the same, on PostgreSQL
        env["PERSISTENCE_MODULE"] = FACTORY_TOPIC  # keeps the URL's sslmode & co.
    if validator is None:
        from native import NativeMessageValidator  # the compiled module loads only here
        from native.profiles import DEFAULT_SCHEMAS

        validator = NativeMessageValidator(
            strict=settings.validation == "strict",
            profiles=Path(settings.schemas) if settings.schemas else DEFAULT_SCHEMAS,
            **settings.validator_limits(),
        )
    ingestion = Ingestion(
        env,
        validator=validator,
        clock=SystemClock(),
        site_timezone=settings.tzinfo(),
        processing_ids=settings.processing_ids,
        log_rejected=settings.message_log,
    )
    views = {spec.key: build_view(spec, settings, env) for spec in CATALOG}
    shared = settings.backend == "postgres"  # other processes may commit: poll more often
    runner = PollingProjectionRunner(
        ingestion,
        *(spec.project(views[spec.key]) for spec in CATALOG),
        poll_interval_s=0.2 if shared else 1.0,
    )
    relay = _relay(settings, env, ingestion) if settings.kafka else None
    lease = None
    if shared and relay is None:
        from adapters.kafka.lease import PostgresLease

        lease = PostgresLease(env, f"carelog-projections:{ingestion.name}")
    sealer = None
    if settings.backend != "memory":
        sealer = Sealer(ingestion.recorder, settings.seal_key.encode() or None)
    engine = Engine(
        settings,
        ingestion,
        views,
        runner,
        Metrics(),
        relay=relay,
        projection_lease=lease,
        sealer=sealer,
        store_size=store_size(settings),
    )
    if shared and sealer is not None:
        from adapters.kafka.lease import PostgresLease

        # Each sealer seals the whole log: with several `serve`, one at a time.
        engine.seal_lease = PostgresLease(env, f"carelog-seals:{ingestion.name}")
    return engine


def _relay(settings: Settings, env: dict[str, str], ingestion: Ingestion) -> Any:
    """The outbox relay to ``settings.kafka``, its position in the event store."""
    try:
        from aiokafka import AIOKafkaProducer
    except ImportError as e:  # installed without the extra
        raise ConfigError("--kafka needs the kafka extra: pip install 'carelog[kafka]'") from e

    from adapters.kafka.lease import PostgresLease
    from adapters.kafka.relay import OutboxRelay, RelayPosition

    name = f"{ingestion.name}>{settings.kafka_topic}"
    module = env["PERSISTENCE_MODULE"]
    lease = None
    if module == "eventsourcing.sqlite":
        recorder: Any = SQLiteFactory(env).tracking_recorder()
    elif module in ("eventsourcing.postgres", FACTORY_TOPIC):
        relay_env = {**env, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "2"}
        factory = PostgresFactory(Environment("carelog_relay", relay_env))
        recorder = factory.tracking_recorder(PostgresView)  # created in turn with other starts
        lease = PostgresLease(env, f"carelog-relay:{name}")
    else:
        from eventsourcing.popo import POPOTrackingRecorder

        recorder = POPOTrackingRecorder()

    from adapters.kafka.topics import ensure_topic, kafka_tls

    tls = transport.kafka_ssl_context(settings)

    def producer() -> Any:
        return AIOKafkaProducer(
            bootstrap_servers=settings.kafka,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
            client_id=f"carelog-relay-{ingestion.name}",
            **kafka_tls(tls),
        )

    def prepare() -> Any:
        return ensure_topic(settings.kafka, settings.kafka_topic, settings.kafka_partitions, tls)

    return OutboxRelay(
        ingestion,
        RelayPosition(recorder, name),
        producer,
        topic=settings.kafka_topic,
        lease=lease,
        prepare=prepare,
    )


def run_worker(settings: Settings) -> None:
    """`carelog worker`: every catalog projection, fed from the Kafka topic, until SIGTERM.

    Raises:
        ConfigError: no Kafka servers, or a store without durable read models.
    """
    from adapters.kafka.topics import ensure_topic
    from adapters.kafka.worker import ProjectionApplier, create_worker_app

    if not settings.kafka:
        raise ConfigError("carelog worker: --kafka SERVERS (or CARELOG_KAFKA) is required")
    if settings.backend not in ("postgres", "sqlite"):
        raise ConfigError("carelog worker: --store must be postgresql://... (or sqlite:///PATH)")
    env = settings.eventsourcing_env()
    configure_queues(QueueRules(settings.queue_classes, settings.queue_locations))
    tls = transport.kafka_ssl_context(settings)
    # The mapper (transcodings, cipher, compression) is the application's; its
    # event store is not needed, so it is built in memory.
    decoder = Ingestion(
        {k: v for k, v in env.items() if not k.startswith(("POSTGRES_", "SQLITE_"))}
        | {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        validator=_NoValidator(),
        clock=SystemClock(),
    )
    views = {spec.key: build_view(spec, settings, env) for spec in CATALOG}
    applier = ProjectionApplier(decoder.mapper, [spec.project(views[spec.key]) for spec in CATALOG])
    deadline = time.monotonic() + 60
    while True:  # the broker may still be starting (compose, CI)
        try:
            topic = ensure_topic(
                settings.kafka, settings.kafka_topic, settings.kafka_partitions, tls
            )
            asyncio.run(topic)
            break
        except Exception as e:
            if time.monotonic() > deadline:
                raise ConfigError(f"CARELOG_KAFKA: cannot reach {settings.kafka}: {e}") from e
            time.sleep(1)
    app = create_worker_app(
        servers=settings.kafka,
        topic=settings.kafka_topic,
        group=settings.kafka_group,
        partitions=settings.kafka_partitions,
        applier=applier,
        heartbeat=settings.worker_heartbeat,
        ssl_context=tls,
    )
    import faust

    endpoint = None
    if settings.worker_health:  # listens before the consumer starts: red until it applies
        from adapters.kafka.worker_health import WorkerHealth, worker_health_of, worker_metrics

        endpoint = WorkerHealth(
            settings.worker_health,
            worker_health_of(settings, applier),
            worker_metrics(applier),
        ).start()
    try:
        worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()
    finally:
        if endpoint is not None:
            endpoint.stop()
        applier.stopping.set()
        for view in views.values():
            datastore = getattr(view, "datastore", None)
            if datastore is not None:
                datastore.close()


class _NoValidator:
    """The worker decodes events only; it never validates a message."""

    def validate(self, message: bytes) -> tuple[Fault, ...]:
        raise NotImplementedError("carelog worker does not ingest messages")

    def validate_many(self, messages: Sequence[bytes]) -> list[tuple[Fault, ...]]:
        raise NotImplementedError("carelog worker does not ingest messages")


def hand_over(engine: Engine) -> Callable[[Sequence[Any]], None]:
    """The writer's ``on_recorded``: each commit's recordings to this process's readers.

    The projection runner (while this process projects: not with Kafka, whose
    workers project, nor without the lease) and the running sealer take them
    from memory instead of reading them back; they read the store for anything
    else.
    """

    def recorded(recordings: Sequence[Any]) -> None:
        # Called after the commit: it must not fail the messages it holds. A reader
        # that misses a hand-over reads those events from the store instead.
        try:
            if engine.relay is None and engine.projecting:
                engine.runner.offer(recordings)
            if engine.sealer is not None and engine.sealer.running:
                engine.sealer.offer(recordings)
        except Exception as e:
            log.error("handover.failed", error=type(e).__name__)

    return recorded


def access_layer(engine: Engine, writer: GroupCommitWriter) -> AccessControl:
    """The HTTP access layer; its access log commits on the single writer thread."""
    access: AccessControl | None = None

    def store(entries: list[AccessEntry]) -> None:
        def job() -> None:
            try:
                engine.ingestion.record_access(to_records(entries))
            except Exception:
                if access is not None and access.access_log is not None:
                    access.access_log.add(entries)  # kept for the next flush
                raise

        writer.run(job)

    access = build_access(engine.settings, store)
    return access


async def serve(engine: Engine) -> None:
    """Runs MLLP and HTTP until SIGINT/SIGTERM, then shuts down without losing a message.

    The order matters: the writer and background tasks first, then the
    listeners; on the way out the listeners stop first (in-flight messages are
    acknowledged), then the writer, then the relay publishes what was committed.
    """
    settings = engine.settings
    transport.check_plaintext(settings)
    refusals, limiter = SenderRefusals(), RateLimiter(settings.http_rate_limit)
    mllp_options = transport.mllp_options(settings, refusals)  # files load before anything runs
    nudge = nudger(engine)
    writer = start_writer(engine, hand_over(engine), nudge)
    try:
        access = access_layer(engine, writer)  # refuses a bad auth setup before listening
    except Exception:
        writer.close()
        raise
    if access.access_log is not None:  # refused MLLP senders are access-log refusals too
        sink = access.access_log
        refusals.hooks.append(
            lambda r: sink.add([mllp_refusal_entry(r, datetime.now(UTC).isoformat())])
        )
    background = start_background(engine)
    mllp = mllp_server(engine, writer, **mllp_options)
    await mllp.start()

    health = health_of(engine, writer)
    metrics = metrics_of(engine, writer, refusals.gauges, limiter.gauges)
    from adapters.crypto.erasures import erased_check

    fhir_writes = FhirWrites(
        engine.ingestion, writer.call, max_bytes=settings.fhir_max_bytes, on_saved=nudge
    )
    app = create_app(
        engine.http_views(),
        health=health,
        metrics=metrics,
        site_timezone=settings.tzinfo(),
        fhir_writes=fhir_writes,
        access=access,
        erased=erased_check(engine.ingestion),
        figures=engine.metrics,
    )
    try:
        http = await start_http(
            uvicorn.Config(
                RateLimitMiddleware(app, limiter),
                host=settings.http_host,
                port=settings.http_port,
                log_config=None,
                access_log=False,
                lifespan="off",
                **transport.http_tls_options(settings),
            )
        )
    except BaseException:
        await mllp.stop()
        if access.access_log is not None:
            access.access_log.stop()
        writer.close()
        await background.finish(engine)
        raise
    log.info(
        "serve.ready",
        mllp=f"{settings.mllp_host}:{mllp.port}",
        mllp_tls=bool(settings.mllp_tls_cert),
        http_tls=bool(settings.http_tls_cert),
        http=f"{settings.http_host}:{http.port}",
        mllp_port=mllp.port,
        http_port=http.port,
        store=settings.backend,
    )

    settle_heap()
    await until_signalled()
    log.info("serve.stopping")
    await mllp.stop()  # in-flight messages finish and are acknowledged first
    await http.stop()
    if access.access_log is not None:
        access.access_log.stop()  # its last batch goes to the writer before it closes
    writer.close()
    await background.finish(engine)
    engine.close()
    log.info("serve.stopped")
