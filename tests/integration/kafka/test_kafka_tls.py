"""Kafka over TLS: a broker with a TLS listener requiring client certificates (trustme CA).

The broker `make test` starts is plain; this test starts a second single-node
KRaft broker from the same jars, its client listener TLS only, and checks that
carelog's Kafka clients (topic admin, relay producer) reach it with the
context built from ``CARELOG_KAFKA_TLS_*``, and that a client without a
certificate does not.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from adapters.kafka.topics import ensure_topic, kafka_tls
from adapters.transport import kafka_ssl_context
from engine.config import Settings

pytestmark = pytest.mark.kafka

KAFKA_VERSION = "3.9.2"  # the one .ci/services.sh fetches


def _libs() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "carelog" / f"kafka-{KAFKA_VERSION}" / "libs"


def _ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class TlsBroker:
    """Files and the running broker; ``settings`` point carelog's clients at it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA(key_type=trustme.KeyType.RSA)
        broker = self.ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
        client = self.ca.issue_cert("carelog-relay", key_type=trustme.KeyType.RSA)
        self.ca_file = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.broker_chain = self._write("broker.pem", broker.cert_chain_pems[0].bytes())
        self.broker_key = self._write("broker.key", _pkcs8(broker.private_key_pem.bytes()))
        self.client_cert = self._write("client.pem", client.cert_chain_pems[0].bytes())
        self.client_key = self._write("client.key", client.private_key_pem.bytes())
        self.port, self.internal, self.controller = _ports(3)
        self.proc: subprocess.Popen[bytes] | None = None

    def _write(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.write_bytes(data)
        return str(path)

    def settings(self, *, with_cert: bool = True) -> Settings:
        env = {"CARELOG_KAFKA": f"127.0.0.1:{self.port}", "CARELOG_KAFKA_TLS_CA": self.ca_file}
        if with_cert:
            env |= {
                "CARELOG_KAFKA_TLS_CERT": self.client_cert,
                "CARELOG_KAFKA_TLS_KEY": self.client_key,
            }
        return Settings.from_env(env)

    def start(self, timeout: float = 120.0) -> None:
        props = self.root / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller}",
                    f"listeners=SSL://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{self.internal},"
                    f"CONTROLLER://127.0.0.1:{self.controller}",
                    f"advertised.listeners=SSL://127.0.0.1:{self.port},"
                    f"INTERNAL://127.0.0.1:{self.internal}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=INTERNAL",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SSL:SSL",
                    f"log.dirs={self.root / 'data'}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "num.partitions=1",
                    "ssl.keystore.type=PEM",
                    f"ssl.keystore.location={self._write('keystore.pem', _keystore(self))}",
                    "ssl.truststore.type=PEM",
                    f"ssl.truststore.location={self.ca_file}",
                    "ssl.client.auth=required",
                    "ssl.enabled.protocols=TLSv1.2,TLSv1.3",
                ]
            )
            + "\n"
        )
        log4j = Path(__file__).resolve().parents[3] / ".ci/services/kafka/log4j.properties"
        java = [
            "java",
            "-Xms128m",
            "-Xmx384m",
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            f"{_libs()}/*",
        ]
        cluster = "carelogTlsTest0000000A"[:22]
        subprocess.run(
            [*java, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(props)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (self.root / "server.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [*java, "kafka.Kafka", str(props)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while b"Kafka Server started" not in (self.root / "server.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((self.root / "server.log").read_text()[-3000:])
            time.sleep(0.3)  # a bounded wait on the broker's own "started" line

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _pkcs8(pem: bytes) -> bytes:
    """Kafka's PEM keystore reads unencrypted PKCS#8 keys only."""
    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _keystore(broker: TlsBroker) -> bytes:
    return Path(broker.broker_key).read_bytes() + Path(broker.broker_chain).read_bytes()


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    if not _libs().is_dir():
        pytest.fail(f"no Kafka jars in {_libs()}: run `bash .ci/services.sh up` first")
    broker = TlsBroker(tmp_path_factory.mktemp("kafka-tls"))
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


async def _produce_and_read(settings: Settings, topic: str) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    context = kafka_ssl_context(settings)
    await ensure_topic(settings.kafka, topic, 1, context)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka, enable_idempotence=True, acks="all", **kafka_tls(context)
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"event-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka, auto_offset_reset="earliest", **kafka_tls(context)
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=20_000, max_records=1)
    finally:
        await consumer.stop()
    return [r.value for rs in batches.values() for r in rs]


def test_carelogs_kafka_clients_reach_a_tls_broker_with_a_client_certificate(
    tls_broker: TlsBroker,
) -> None:
    topic = f"carelog-tls-{uuid.uuid4().hex[:8]}"
    assert asyncio.run(_produce_and_read(tls_broker.settings(), topic)) == [b"event-1"]


def test_a_client_without_certificate_or_without_tls_is_refused(tls_broker: TlsBroker) -> None:
    from aiokafka.errors import KafkaError

    no_cert = tls_broker.settings(with_cert=False)
    with pytest.raises((KafkaError, ssl.SSLError, OSError)):
        asyncio.run(
            asyncio.wait_for(
                ensure_topic(no_cert.kafka, "refused", 1, kafka_ssl_context(no_cert)), 30
            )
        )
    with pytest.raises((KafkaError, OSError, TimeoutError)):
        asyncio.run(asyncio.wait_for(ensure_topic(no_cert.kafka, "refused", 1), 30))
