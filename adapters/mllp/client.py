"""The MLLP sender behind `carelog send`: one message at a time, each waiting for its ACK.

A message whose ACK does not come back in time is sent again on a fresh
connection; carelog (and any receiver keyed on MSH-3/4/10) answers the resend
AA without applying it twice, so retrying is safe.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from adapters.mllp.framing import FrameReader, frame
from engine.errors import TransportError
from engine.hl7.message import parse_message

__all__ = ["MLLPClient", "SendSummary"]


@dataclass
class SendSummary:
    """What happened to each message sent: counts by ACK code, plus transport errors."""

    sent: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def all_accepted(self) -> bool:
        """True when every message was answered AA (or CA)."""
        return self.sent > 0 and self.sent == self.codes["AA"] + self.codes["CA"]

    def line(self) -> str:
        """``sent=3 AA=2 AE=1 AR=0 errors=0``, the CLI's closing line."""
        return (
            f"sent={self.sent} AA={self.codes['AA']} AE={self.codes['AE']} "
            f"AR={self.codes['AR']} errors={self.errors}"
        )


class MLLPClient:
    """A blocking MLLP client with ACK timeout and resend."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float = 30.0,
        retries: int = 3,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """With ``ssl_context`` the connection is MLLP over TLS (adapters/mllp/tls.py)."""
        self.host = host
        self._ssl = ssl_context
        self.port = port
        self.timeout_s = timeout_s
        self.retries = retries
        self._sock: socket.socket | None = None
        self._reader = FrameReader(16 << 20)
        self._ready: list[bytes] = []

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection, if open."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                try:
                    sock = self._ssl.wrap_socket(sock, server_hostname=self.host)
                except BaseException:
                    sock.close()
                    raise
            self._sock = sock
            self._reader = FrameReader(16 << 20)
            self._ready = []
        return self._sock

    def send(self, message: bytes) -> bytes:
        """Sends one message and returns its ACK, resending after a timeout.

        Raises:
            TransportError: no ACK after all retries, or the peer kept closing.
        """
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                sock = self._connect()
                sock.sendall(frame(message))
                return self._read_ack(sock)
            except (OSError, TransportError) as e:
                last = e
                self.close()
                if attempt < self.retries:
                    time.sleep(min(0.2 * 2**attempt, 2.0))
        raise TransportError(f"no ACK from {self.host}:{self.port}: {last}") from last

    def _read_ack(self, sock: socket.socket) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        while not self._ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError("timed out waiting for the ACK")
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                raise TransportError("connection closed before the ACK")
            self._ready.extend(x for x in self._reader.feed(data) if isinstance(x, bytes))
        return self._ready.pop(0)

    def send_all(self, messages: Iterable[bytes | tuple[str, bytes]]) -> SendSummary:
        """Sends every message in order; never raises for a single message's failure.

        A message may come with where it was read (``("adt.hl7", raw)``): each
        non-AA answer then names the file, the message's position in that file
        and its control id (MSH-10), so the operator can find it.
        """
        summary = SendSummary()
        positions: dict[str, int] = {}
        for number, item in enumerate(messages, 1):
            source, message = item if isinstance(item, tuple) else ("", item)
            positions[source] = positions.get(source, 0) + 1
            where = describe(source, positions[source] if source else number, message)
            summary.sent += 1
            try:
                ack = self.send(message)
            except TransportError as e:
                summary.errors += 1
                summary.details.append(f"{where}: {e}")
                continue
            code = ack_code_of(ack)
            summary.codes[code] += 1
            if code not in ("AA", "CA"):
                summary.details.append(f"{where}: {code} {ack_text(ack)}")
        return summary


def describe(source: str, number: int, message: bytes) -> str:
    """``adt.hl7: message 3 (MSH-10 MSG00003)``: where a message came from, for people."""
    head = f"{source}: message {number}" if source else f"message {number}"
    control = control_id_of(message)
    return f"{head} (MSH-10 {control})" if control else head


def control_id_of(message: bytes) -> str:
    """MSH-10 read from the first line with the message's own separator; ``""`` if none.

    Only printable ASCII is kept (an identifier, safe to print).
    """
    first = message.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not first.startswith(b"MSH") or len(first) < 4:
        return ""
    fields = first.split(first[3:4])
    raw = fields[9] if len(fields) > 9 else b""
    text = raw.decode("ascii", "replace")
    return "".join(ch for ch in text if ch.isprintable() and ch.isascii())[:199]


def ack_code_of(ack: bytes) -> str:
    """MSA-1 of an ACK, ``?`` when it has none."""
    try:
        return parse_message(ack).get("MSA", 1) or "?"
    except Exception:
        return "?"


def ack_text(ack: bytes) -> str:
    """The error texts of an ACK (ERR-8, else ERR-3.2 / ERR-1.4.2, else MSA-3)."""
    try:
        msg = parse_message(ack)
    except Exception:
        return ""
    texts = []
    for n in range(1, len(msg.segments_named("ERR")) + 1):
        text = (
            msg.get("ERR", 8, occurrence=n)
            or msg.get("ERR", 3, 2, occurrence=n)
            or msg.get("ERR", 1, 4, 2, occurrence=n)
        )
        where = msg.get("ERR", 2, 1, occurrence=n)
        if where:
            where += "-" + msg.get("ERR", 2, 3, occurrence=n)
        texts.append(f"{where}: {text}" if where else text)
    return "; ".join(texts) or msg.get("MSA", 3)
