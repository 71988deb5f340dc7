"""The asyncio MLLP listener: frames in, one ACK out per message, after the commit.

A frame holding an HL7 batch (FHS/BHS ... BTS/FTS) is split into its messages,
which are ingested together, and answered with one batch ACK frame
(engine/hl7/batch.py).

Each connection is stop-and-wait: a message is ingested (on the single writer
thread, off the event loop) and its ACK written before the next frame is
read from the buffer. ACK codes come from the engine's outcome; unexpected
failures answer AE 207 and change nothing. On shutdown the listener stops
accepting, lets every in-flight message finish and be acknowledged, then
closes the connections: nothing acknowledged is lost, nothing lost is acknowledged.

Back-pressure, not NAKs: a connection is not read while its message waits
for the writer, and the stream's buffer stops reading the socket when full,
so a fast sender is slowed by TCP rather than refused. Abuse limits: a cap on
connections per peer address (over it, the connection is closed at accept),
and with TLS a handshake timeout, optional client certificates and senders
bound to MSH-3/MSH-4 (adapters/mllp/tls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import structlog

from adapters.mllp.framing import FrameReader, Oversize, frame
from adapters.mllp.tls import (
    Refusal,
    SenderBindings,
    SenderRefusals,
    peer_identities,
    sending_pair,
)
from engine.application.outcome import IngestOutcome
from engine.errors import MessageRejectedError
from engine.hl7.ack import acknowledgement_code, build_ack, build_reject_ack
from engine.hl7.batch import Batch, build_batch_ack, is_batch, read_batch
from engine.hl7.message import parse_message
from engine.ports import Fault

__all__ = ["MLLPServer"]

log = structlog.get_logger(__name__)

Ingest = Callable[[bytes, str], Awaitable[IngestOutcome]]
LogRefused = Callable[[bytes, str, tuple[str, ...], str, Sequence[Fault]], Awaitable[None]]
"""Keeps a frame refused before the engine: (bytes kept, channel, TLS identities, ACK text,
faults); adapters/serving.py stores it in the message log (a RejectedMessage)."""


def ack_for(outcome: IngestOutcome, now: datetime) -> bytes | None:
    """The ACK bytes for an outcome, or None when the sender asked for none (MSH-15/16 NE).

    Built from the raw bytes when the header was unreadable.
    """
    if outcome.message is None:
        return build_reject_ack(outcome.raw, outcome.text, now=now, faults=outcome.faults)
    code = acknowledgement_code(outcome.message, outcome.ack_code)
    if code is None:
        return None
    return build_ack(
        outcome.message,
        code,
        faults=outcome.faults,
        text=outcome.text,
        now=now,
        error_code=outcome.error_code or 207,
    )


class MLLPServer:
    """Serves MLLP on one host:port, handing each message to ``ingest``."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        host: str,
        port: int,
        max_frame_bytes: int = 1 << 20,
        idle_timeout_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout_s: float = 10.0,
        senders: SenderBindings | None = None,
        max_connections_per_peer: int = 0,
        refusals: SenderRefusals | None = None,
        log_refused: LogRefused | None = None,
    ) -> None:
        """``max_connections_per_peer`` 0 is no cap; ``senders`` needs client certificates.

        ``log_refused`` keeps each oversize frame and sender-rule refusal (before its AR).
        """
        self._ingest = ingest
        self._log_refused = log_refused
        self._ssl = ssl_context
        self.handshake_timeout_s = handshake_timeout_s
        self._senders = senders
        self.max_connections_per_peer = max_connections_per_peer
        self.refusals = refusals or SenderRefusals()
        self._per_peer: Counter[str] = Counter()
        self.host = host
        self.port = port
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._idle: set[asyncio.Task[None]] = set()  # connections waiting in read
        self._stopping = asyncio.Event()

    @property
    def open_connections(self) -> int:
        """Connections open now (their tasks run until the peer or the server closes)."""
        return len(self._connections)

    async def start(self) -> None:
        """Binds and listens; ``port`` is updated when 0 asked for a free one."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mllp.listening", host=self.host, port=self.port, tls=self._ssl is not None)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stops accepting, lets in-flight messages finish, then closes connections."""
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._idle):
            task.cancel()
        if self._connections:
            _, pending = await asyncio.wait(self._connections, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        log.info("mllp.stopped")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else "unknown"
        channel = f"mllp:{peer[0]}:{peer[1]}" if peer else "mllp"
        cap = self.max_connections_per_peer
        if cap and self._per_peer[address] >= cap:
            self.refusals.record(Refusal("too_many_connections", address))
            writer.transport.abort()  # at accept: nothing was read, nothing is lost
            return
        self._per_peer[address] += 1
        self._connections.add(task)
        try:
            with structlog.contextvars.bound_contextvars(channel=channel):
                identities = await self._handshake(writer, address)
                if identities is None:
                    return
                log.info("mllp.connection_opened", identities=list(identities))
                try:
                    await self._converse(reader, writer, channel, identities)
                except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                    log.info("mllp.connection_lost")
                finally:
                    log.info("mllp.connection_closed")
        finally:
            self._connections.discard(task)
            self._per_peer[address] -= 1
            if not self._per_peer[address]:
                del self._per_peer[address]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handshake(
        self, writer: asyncio.StreamWriter, address: str
    ) -> tuple[str, ...] | None:
        """TLS on the accepted socket (when configured): the client's names, None if refused.

        Done here rather than by ``start_server(ssl=...)`` so a failed or slow
        handshake (no certificate, another CA, expired, TLS < 1.2) is a
        recorded refusal, and the connection cap applies before any crypto.
        """
        if self._ssl is None:
            return ()
        try:
            await writer.start_tls(self._ssl, ssl_handshake_timeout=self.handshake_timeout_s)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as e:
            self.refusals.record(Refusal("handshake_failed", address, msh3=type(e).__name__))
            writer.transport.abort()
            return None
        return peer_identities(writer.get_extra_info("peercert"))

    async def _converse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        channel: str,
        identities: tuple[str, ...] = (),
    ) -> None:
        # A plain read, watched by one timer per connection (_IdleWatch): no task,
        # no wait() and no timer of its own per message. stop() wakes a connection
        # idle in read by cancelling it; one busy with a frame is left to finish
        # and answer it, then sees _stopping and ends.
        framer = FrameReader(self.max_frame_bytes)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        watch = _IdleWatch(loop, task, self.idle_timeout_s)
        try:
            while not self._stopping.is_set():
                self._idle.add(task)
                watch.reading_since = loop.time()
                try:
                    data = await reader.read(65536)
                except asyncio.CancelledError:
                    if task.cancelling() <= 1 and (watch.expired or self._stopping.is_set()):
                        task.uncancel()
                        if watch.expired:
                            log.info("mllp.idle_timeout", idle_timeout_s=self.idle_timeout_s)
                        return  # idle too long, or stopped while idle: nothing was in flight
                    raise
                finally:
                    watch.reading_since = None
                    self._idle.discard(task)
                if not data:
                    return
                noise_before = framer.noise_bytes
                for item in framer.feed(data):
                    ack = await self._answer(item, channel, identities)
                    if ack is not None:
                        writer.write(frame(ack))
                        await writer.drain()
                if framer.noise_bytes > noise_before:
                    log.warning("mllp.noise_skipped", bytes=framer.noise_bytes - noise_before)
        finally:
            watch.close()

    async def _answer(
        self, item: bytes | Oversize, channel: str, identities: tuple[str, ...] = ()
    ) -> bytes | None:
        started = time.perf_counter()
        if isinstance(item, Oversize):
            # 102: the frame is longer than the receiver takes (as the validator's
            # MESSAGE_TOO_LONG); 100 would say the segments are out of order.
            text = f"message exceeds the {item.limit}-byte limit (CARELOG_MAX_FRAME_BYTES)"
            fault = Fault(102, "MESSAGE_TOO_LONG", text, fatal=True)
            ack = build_reject_ack(item.head, text, now=self._clock(), faults=[fault])
            await self._keep_refused(item.head, channel, identities, text, [fault])
            log.warning(
                "mllp.message_handled", ack_code="AR", reason="too_large", duration_ms=_ms(started)
            )
            return ack
        if is_batch(item):
            return await self._answer_batch(item, channel, started, identities)
        answer, _ = await self._handle(item, channel, started, identities)
        return answer

    async def _handle(
        self,
        raw: bytes,
        channel: str,
        started: float,
        identities: tuple[str, ...] = (),
        **context: object,
    ) -> tuple[bytes | None, str]:
        """Ingests one message and logs it; its ACK (``None``: none asked for) and ACK code."""
        if self._senders is not None:
            pair = sending_pair(raw)
            if not self._senders.permits(identities, pair):
                refusal = self._refuse_sender(raw, channel, identities, pair)
                text, faults = sender_refusal_faults(identities)
                await self._keep_refused(raw, channel, identities, text, faults)
                return refusal, "AR"
        try:
            outcome = await self._ingest(raw, channel)
        except Exception:
            log.exception("mllp.ingest_failed", ack_code="AE", duration_ms=_ms(started), **context)
            return _internal_error_ack(raw, self._clock()), "AE"
        ack = ack_for(outcome, self._clock())
        log.info(
            "mllp.message_handled",
            msg_control_id=outcome.control_id,
            msg_type=outcome.message_type,
            ack_code=outcome.ack_code,
            ack_sent=ack is not None,
            duplicate=outcome.duplicate,
            events=outcome.events_written,
            faults=len(outcome.faults),
            duration_ms=_ms(started),
            **context,
        )
        return ack, outcome.ack_code

    async def _keep_refused(
        self,
        raw: bytes,
        channel: str,
        identities: tuple[str, ...],
        text: str,
        faults: Sequence[Fault],
    ) -> None:
        """Stores a refusal in the message log before its AR goes out; a failure to store is
        logged and the AR still sent (the sender keeps the message and may resend it)."""
        if self._log_refused is None:
            return
        try:
            await self._log_refused(raw, channel, identities, text, faults)
        except Exception:
            log.exception("mllp.refusal_not_logged", reason=faults[0].rule if faults else "")

    def _refuse_sender(
        self, raw: bytes, channel: str, identities: tuple[str, ...], pair: tuple[str, str] | None
    ) -> bytes:
        """AR for a message its certificate may not send; nothing reaches the engine."""
        msh3, msh4 = pair or ("", "")
        try:
            control_id = parse_message(raw).control_id
        except MessageRejectedError:
            control_id = ""
        self.refusals.record(
            Refusal("sender_not_bound", channel, identities, msh3, msh4, control_id)
        )
        return sender_refusal_ack(raw, identities, self._clock())

    async def _answer_batch(
        self, item: bytes, channel: str, started: float, identities: tuple[str, ...] = ()
    ) -> bytes:
        """A batch in one frame: every message ingested (group commit), one batch ACK back.

        All messages are submitted at once, in order, so the writer commits
        them together and keeps their order; each is decided on its own, so a
        bad message is answered AE/AR in its place and the others still commit.
        """
        file = read_batch(item)
        results = await asyncio.gather(
            *(
                self._handle(raw, channel, started, identities, batch_index=n)
                for n, raw in enumerate(file.messages, 1)
            )
        )
        acks: list[list[bytes | None]] = []
        summaries: list[str] = []
        position = 0
        for batch in file.batches:
            mine = results[position : position + len(batch.messages)]
            position += len(batch.messages)
            acks.append([ack for ack, _ in mine])
            summaries.append(_batch_summary(batch, [code for _, code in mine]))
        log.info(
            "mllp.batch_handled",
            messages=len(results),
            accepted=sum(code == "AA" for _, code in results),
            duration_ms=_ms(started),
        )
        return build_batch_ack(file, acks, summaries, now=self._clock())


class _IdleWatch:
    """A connection's idle timeout: one timer, moved on only when it fires.

    ``asyncio.timeout`` around each read would make and cancel a timer per
    message. Here a read records when it started; the timer, when it fires,
    cancels the connection if that read has lasted the whole timeout, and
    otherwise sets itself for when the current (or next) read would.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None], timeout_s: float):
        self._loop = loop
        self._task = task
        self._timeout_s = timeout_s
        self.reading_since: float | None = None
        self.expired = False
        self._timer = loop.call_at(loop.time() + timeout_s, self._fire)

    def _fire(self) -> None:
        since = self.reading_since
        now = self._loop.time()
        if since is not None and now - since >= self._timeout_s - _TIMER_SLACK_S:
            self.expired = True
            self._task.cancel()
            return
        start = since if since is not None else now
        self._timer = self._loop.call_at(start + self._timeout_s, self._fire)

    def close(self) -> None:
        self._timer.cancel()


_TIMER_SLACK_S = 0.001  # the loop may run a timer up to its clock resolution early


def _batch_summary(batch: Batch, codes: list[str]) -> str:
    """BTS-2 of the answer: how many were accepted, and which message numbers were not."""
    failed = [f"{n}:{code}" for n, code in enumerate(codes, 1) if code != "AA"]
    text = f"{len(codes) - len(failed)} of {len(codes)} accepted"
    if failed:
        text += "; not accepted (message:code): " + " ".join(failed)
    if batch.trailer_count and batch.trailer_count != str(len(codes)):
        text += f"; BTS-1 said {batch.trailer_count} messages"
    return text


def sender_refusal_ack(raw: bytes, identities: tuple[str, ...], now: datetime) -> bytes:
    """AR with ERR segments on MSH-3 and MSH-4 (table 0357 code 103: value not in the
    table of senders this certificate is bound to)."""
    text, faults = sender_refusal_faults(identities)
    try:
        msg = parse_message(raw)
    except MessageRejectedError:
        return build_reject_ack(raw, text, now=now, faults=faults)
    return build_ack(msg, "AR", faults=faults, text=text, now=now, error_code=103)


def sender_refusal_faults(identities: tuple[str, ...]) -> tuple[str, list[Fault]]:
    """The text and ERR faults of a sender-rule refusal (MSH-3 and MSH-4)."""
    who = ", ".join(identities) or "this connection"
    text = f"MSH-3/MSH-4 not among the senders bound to {who}"
    faults = [
        Fault(103, "SENDER_NOT_BOUND", text, segment_id="MSH", segment_index=1, field=3),
        Fault(103, "SENDER_NOT_BOUND", text, segment_id="MSH", segment_index=1, field=4),
    ]
    return text, faults


def _internal_error_ack(raw: bytes, now: datetime) -> bytes:
    """AE 207 for a message whose handling failed inside carelog (nothing was stored)."""
    try:
        msg = parse_message(raw)
    except MessageRejectedError:
        return build_reject_ack(raw, "application internal error", now=now)
    fault = Fault(207, "INTERNAL_ERROR", "application internal error; resend later")
    return build_ack(msg, "AE", faults=[fault], text=fault.text, now=now)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
