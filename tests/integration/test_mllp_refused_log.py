"""Frames the MLLP listener refuses before the engine (an oversize frame, a certificate not
bound to the MSH-3/MSH-4 it sends) are in the message log, on SQLite and PostgreSQL, over a
real socket: peer, TLS identity, receive time, the ACK sent and the cause, encrypted at
rest, findable by ACK code and sender, changing nothing, and not resent by reprocess."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Engine, build
from adapters.fhir.routes import FhirWrites
from adapters.http.app import create_app
from adapters.mllp.client import MLLPClient, ack_code_of
from adapters.reprocess import reprocess
from adapters.serving import mllp_server
from adapters.writer import GroupCommitWriter
from engine.config import Settings
from engine.domain.rejected import RejectedMessage
from engine.errors import CarelogError
from projections.messages import LogFilter
from tests import tokens
from tests.asgi import get
from tests.fakes import FakeMessageValidator
from tests.integration.test_mllp_tls import LAB_MESSAGE, Pki, tls_options
from tests.messages import adt

LIMIT = 2048
CANARY = b"ZEBRAFISH^QUENTIN"


def serve(engine: Engine, talk: Callable[[int], Any], **options: Any) -> Any:
    """``talk(port)`` against the listener `carelog serve` builds (mllp_server), its result."""
    writer = GroupCommitWriter(engine.ingestion.ingest_many)

    async def scenario() -> Any:
        server = mllp_server(engine, writer, **options)
        await server.start()
        try:
            return await asyncio.to_thread(talk, server.port)
        finally:
            await server.stop()

    try:
        return asyncio.run(scenario())
    finally:
        writer.close()


def send(message: bytes, **client: Any) -> Callable[[int], bytes]:
    def talk(port: int) -> bytes:
        with MLLPClient("127.0.0.1", port, timeout_s=10, retries=0, **client) as c:
            return c.send(message)

    return talk


def only_rejections(engine: Engine) -> bool:
    """Nothing but the message log's RejectedMessage events is in the store."""
    stored = engine.ingestion.recorder.select_notifications(1, 1000)
    return bool(stored) and all(n.topic.startswith("engine.domain.rejected:") for n in stored)


def console_app(engine: Engine) -> Any:
    """The HTTP app with the console (its writes are never called here)."""

    async def no_writes(fn: Any) -> Any:
        raise AssertionError("nothing is written")

    writes = FhirWrites(engine.ingestion, no_writes, max_bytes=1)
    return create_app(
        engine.views, health=lambda: {"ready": True}, fhir_writes=writes, access=tokens.access()
    )


def _engine(store_url: str) -> Engine:
    settings = Settings(store=store_url, mllp_port=0, max_frame_bytes=LIMIT)
    return build(settings, validator=FakeMessageValidator())


def test_an_oversize_frame_is_logged_with_its_head_and_changes_nothing(
    durable_store_url: str,
) -> None:
    engine = _engine(durable_store_url)
    big = adt("A01", "BIG1", mrn="MBIG", name=CANARY.decode(), visit="VBIG") + (
        b"NTE|1||" + b"x" * (LIMIT * 2) + b"\r"
    )
    ack = serve(engine, send(big))
    assert ack_code_of(ack) == "AR"
    engine.runner.catch_up()
    log = engine.views["messages"]
    (entry,) = log.search(LogFilter(ack_code="AR"))
    assert (entry.accepted, entry.cause, entry.sender, entry.control_id) == (
        False,
        "MESSAGE_TOO_LONG",
        "HIS",
        "BIG1",
    )
    assert entry.message_type == "ADT^A01" and entry.channel.startswith("mllp:127.0.0.1:")
    assert [e.entry_id for e in log.search(LogFilter(sender="HIS"))] == [entry.entry_id]
    assert [e.entry_id for e in log.search(LogFilter(key_kind="visit", key_value="VBIG"))] == [
        entry.entry_id
    ]
    assert (entry.cause, 1) in log.causes()
    stored = engine.ingestion.current(UUID(entry.entry_id))
    assert isinstance(stored, RejectedMessage)
    assert stored.raw.encode() == big[:4096]  # the head the listener kept
    assert stored.ack_code == "AR" and f"{LIMIT}-byte limit" in stored.ack_text
    assert stored.faults[0]["code"] == 102 and stored.received_at
    # Patient data: ciphertext at rest, like every other rejected message.
    (record,) = engine.ingestion.recorder.select_events(UUID(entry.entry_id))
    assert CANARY not in bytes(record.state) and b"VBIG" not in bytes(record.state)
    # Kept apart: no patient or visit came of it, and reprocess will not send a part.
    assert engine.views["patients"].find_by_identifier("MBIG") == []
    assert only_rejections(engine)
    with pytest.raises(CarelogError, match="only the sender can resend it"):
        reprocess(
            entry.entry_id, "ops", load=engine.ingestion.current, ingest=engine.ingestion.ingest
        )
    engine.close()


def test_a_sender_rule_refusal_is_logged_with_the_tls_identity(
    durable_store_url: str, tmp_path: Path
) -> None:
    pki = Pki(tmp_path)
    engine = _engine(durable_store_url)
    adt_cert = pki.ca.issue_cert("adt.example.org")  # bound to MSH-3 ADT, sends as LAB
    ack = serve(engine, send(LAB_MESSAGE, ssl_context=pki.client(adt_cert)), **tls_options(pki))
    assert ack_code_of(ack) == "AR"
    engine.runner.catch_up()
    log = engine.views["messages"]
    (entry,) = log.search(LogFilter(ack_code="AR", sender="LAB"))
    assert entry.cause == "SENDER_NOT_BOUND MSH-3" and entry.control_id == "MSG00001"
    assert entry.channel.startswith("mllp:127.0.0.1:") and entry.channel.endswith(
        " tls:adt.example.org"
    )
    stored = engine.ingestion.current(UUID(entry.entry_id))
    assert isinstance(stored, RejectedMessage)
    assert stored.raw.encode() == LAB_MESSAGE and "adt.example.org" in stored.ack_text
    # In the console: found by ACK code and sender, its page naming the TLS identity.
    console = console_app(engine)
    found = get(console, "/console/messages", params={"ack_code": "AR", "sender": "LAB"})
    assert found.status_code == 200 and f"/console/messages/{entry.entry_id}" in found.text
    page = get(console, f"/console/messages/{entry.entry_id}")
    assert page.status_code == 200
    assert "tls:adt.example.org" in page.text and "not among the senders bound" in page.text
    assert [f["field"] for f in stored.faults] == [3, 4]
    assert only_rejections(engine)
    with pytest.raises(CarelogError, match="only the sender can resend it"):
        reprocess(
            entry.entry_id, "ops", load=engine.ingestion.current, ingest=engine.ingestion.ingest
        )
    engine.close()


def test_with_the_message_log_off_a_refusal_leaves_no_trace(tmp_path: Path) -> None:
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'c.db'}",
        mllp_port=0,
        max_frame_bytes=LIMIT,
        message_log=False,
    )
    engine = build(settings, validator=FakeMessageValidator())
    head = engine.ingestion.recorder.max_notification_id()
    big = adt("A01", "BIG2") + b"NTE|1||" + b"x" * (LIMIT * 2) + b"\r"
    ack = serve(engine, send(big))
    assert ack_code_of(ack) == "AR"
    assert engine.ingestion.recorder.max_notification_id() == head
    engine.close()
