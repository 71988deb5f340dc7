"""MLLP over TLS on real sockets, with a test CA (trustme): who may connect, and as whom.

Refused: no client certificate, a certificate from another CA, an expired
one, TLS 1.1, and a good certificate sending another sender's MSH-3/MSH-4
(answered AR, nothing stored). Served: a good certificate sending as itself.
Also the per-peer connection cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from adapters.bootstrap import Engine, build
from adapters.mllp.client import MLLPClient, ack_code_of
from adapters.mllp.framing import frame
from adapters.mllp.server import MLLPServer
from adapters.mllp.tls import SenderBindings, SenderRefusals, server_context
from engine.application.outcome import IngestOutcome
from engine.config import Settings
from engine.errors import TransportError
from engine.hl7.message import parse_message
from tests.conftest import sample
from tests.fakes import FakeMessageValidator

LAB_MESSAGE = sample("adt_a01.hl7")  # MSH-3 LAB, MSH-4 HOSP
BINDINGS = """
[senders]
"lab.example.org" = [{ msh3 = "LAB", msh4 = "HOSP" }]
"adt.example.org" = [{ msh3 = "ADT", msh4 = "*" }]
"""


class Pki:
    """A test CA, the server's certificate, and files for clients."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = self.write("ca.pem", self.ca.cert_pem.bytes())
        self.cert_file = self.write("server.pem", self.server.cert_chain_pems[0].bytes())
        self.key_file = self.write("server.key", self.server.private_key_pem.bytes())

    def write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def client(self, cert: trustme.LeafCert | None = None, **tls: Any) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        for name, value in tls.items():
            setattr(context, name, value)
        if cert is not None:
            cert.configure_cert(context)
        return context


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def run_server(
    tmp_path: Path, talk: Callable[[int], Any], **options: Any
) -> tuple[Any, Engine, SenderRefusals, int]:
    """Serves MLLP on 127.0.0.1 while ``talk(port)`` runs in a thread; its result,
    the engine (closed), the refusals recorded and how many messages reached ingest."""
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
    )
    refusals = SenderRefusals()
    ingested = 0

    async def scenario() -> Any:
        loop = asyncio.get_running_loop()

        async def ingest(raw: bytes, channel: str) -> IngestOutcome:
            nonlocal ingested
            ingested += 1
            return await loop.run_in_executor(None, engine.ingestion.ingest, raw, channel)

        server = MLLPServer(ingest, host="127.0.0.1", port=0, refusals=refusals, **options)
        await server.start()
        try:
            return await asyncio.to_thread(talk, server.port)
        finally:
            await server.stop()

    try:
        result = asyncio.run(scenario())
    finally:
        engine.close()
    return result, engine, refusals, ingested


def tls_options(pki: Pki, *, senders: bool = True) -> dict[str, Any]:
    bindings = pki.dir / "senders.toml"
    bindings.write_text(BINDINGS)
    return {
        "ssl_context": server_context(pki.cert_file, pki.key_file, pki.ca_file),
        "senders": SenderBindings.load(str(bindings)) if senders else None,
        "handshake_timeout_s": 5.0,
    }


def send(context: ssl.SSLContext, message: bytes = LAB_MESSAGE) -> Callable[[int], bytes]:
    def talk(port: int) -> bytes:
        with MLLPClient("127.0.0.1", port, timeout_s=5, retries=0, ssl_context=context) as c:
            return c.send(message)

    return talk


def stored(tmp_path: Path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "c.db") as db:
        return int(db.execute("SELECT count(*) FROM stored_events").fetchone()[0])


def test_a_bound_certificate_sending_as_itself_is_served(tmp_path: Path, pki: Pki) -> None:
    lab = pki.ca.issue_cert("lab.example.org")
    ack, _, refusals, ingested = run_server(tmp_path, send(pki.client(lab)), **tls_options(pki))
    assert ack_code_of(ack) == "AA"
    assert ingested == 1 and stored(tmp_path) > 0
    assert not refusals.counts


def test_a_certificate_sending_another_senders_msh3_msh4_gets_ar_and_changes_nothing(
    tmp_path: Path, pki: Pki
) -> None:
    adt = pki.ca.issue_cert("adt.example.org")
    ack, _, refusals, ingested = run_server(tmp_path, send(pki.client(adt)), **tls_options(pki))
    msg = parse_message(ack)
    assert msg.get("MSA", 1) == "AR"
    assert msg.get("MSA", 2) == "MSG00001"  # the sender can match the answer
    errs = msg.segments_named("ERR")
    assert [msg.get("ERR", 2, 3, occurrence=n) for n in (1, 2)] == ["3", "4"]
    assert msg.get("ERR", 3, 1, occurrence=1) == "103"
    assert "adt.example.org" in msg.get("ERR", 8, occurrence=1) and len(errs) == 2
    assert ingested == 0 and stored(tmp_path) == 0
    assert refusals.counts["sender_not_bound"] == 1


def test_bindings_match_the_first_component_of_msh3(tmp_path: Path, pki: Pki) -> None:
    adt = pki.ca.issue_cert("adt.example.org")
    message = LAB_MESSAGE.replace(b"|LAB|HOSP|", b"|ADT^1.2.3^ISO|ANYWHERE|", 1)
    ack, *_ = run_server(tmp_path, send(pki.client(adt), message), **tls_options(pki))
    assert ack_code_of(ack) == "AA"


def refused(tmp_path: Path, pki: Pki, context: ssl.SSLContext) -> SenderRefusals:
    def talk(port: int) -> str:
        try:
            ack = send(context)(port)
        except TransportError as e:
            return f"refused: {e}"
        return ack_code_of(ack)

    outcome, _, refusals, ingested = run_server(tmp_path, talk, **tls_options(pki))
    assert outcome.startswith("refused"), outcome
    assert ingested == 0 and stored(tmp_path) == 0
    return refusals


def test_no_client_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    refusals = refused(tmp_path, pki, pki.client())
    assert refusals.counts["handshake_failed"] >= 1


def test_a_certificate_from_another_ca_is_refused(tmp_path: Path, pki: Pki) -> None:
    stranger = trustme.CA().issue_cert("lab.example.org")
    refusals = refused(tmp_path, pki, pki.client(stranger))
    assert refusals.counts["handshake_failed"] >= 1


def test_an_expired_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    now = datetime.now(UTC)
    old = pki.ca.issue_cert(
        "lab.example.org", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    refusals = refused(tmp_path, pki, pki.client(old))
    assert refusals.counts["handshake_failed"] >= 1


def test_tls_1_1_is_refused(tmp_path: Path, pki: Pki) -> None:
    lab = pki.ca.issue_cert("lab.example.org")
    context = pki.client(lab)
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with contextlib.suppress(ssl.SSLError):
        context.set_ciphers("ALL:@SECLEVEL=0")  # so the client really offers TLS 1.1
    refusals = refused(tmp_path, pki, context)
    assert refusals.counts["handshake_failed"] >= 1


def test_plain_tcp_to_a_tls_listener_gets_no_ack(tmp_path: Path, pki: Pki) -> None:
    def talk(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(frame(LAB_MESSAGE))
            chunks = []
            while data := s.recv(65536):
                chunks.append(data)
            return b"".join(chunks)

    answer, _, refusals, ingested = run_server(tmp_path, talk, **tls_options(pki))
    assert b"MSA" not in answer and ingested == 0
    assert refusals.counts["handshake_failed"] == 1


def test_connections_over_the_per_peer_cap_are_closed_at_accept(tmp_path: Path) -> None:
    def talk(port: int) -> list[str]:
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            for n, s in enumerate(held):  # each answered: both were accepted and counted
                s.sendall(frame(LAB_MESSAGE.replace(b"MSG00001", b"CAP%d" % n)))
                assert b"MSA|AA" in s.recv(65536)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as third:
                try:
                    third.sendall(frame(LAB_MESSAGE.replace(b"MSG00001", b"CAP9")))
                    over = third.recv(65536)
                except ConnectionError:
                    over = b""
            return ["AA", "AA", "closed" if not over else over.decode()]
        finally:
            for s in held:
                s.close()

    codes, _, refusals, ingested = run_server(tmp_path, talk, max_connections_per_peer=2)
    assert codes == ["AA", "AA", "closed"]
    assert ingested == 2
    assert refusals.counts["too_many_connections"] == 1


def test_a_client_that_never_finishes_the_handshake_is_dropped(tmp_path: Path, pki: Pki) -> None:
    def talk(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            return s.recv(65536)  # says nothing: the server gives up after its timeout

    options = {**tls_options(pki), "handshake_timeout_s": 0.5}
    answer, _, refusals, ingested = run_server(tmp_path, talk, **options)
    assert answer == b"" and ingested == 0
    assert refusals.counts["handshake_failed"] == 1
