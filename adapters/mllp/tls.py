"""MLLP over TLS: the server and client contexts, and senders bound to MSH-3/MSH-4.

A hospital interface engine cannot rely on the network alone: a client
certificate says *who* connects, and the binding file says which sending
application and facility (MSH-3, MSH-4) that certificate may speak for, so a
compromised lab feed cannot register patients as the ADT system. A message
from the wrong sender is refused (AR) by the listener before it reaches the
engine; the refusal goes through one function (``SenderRefusals.record``) so
the access log can be wired in with one call.
"""

from __future__ import annotations

import json
import ssl
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from engine.errors import ConfigError

__all__ = [
    "Refusal",
    "SenderBindings",
    "SenderRefusals",
    "client_context",
    "peer_identities",
    "sending_pair",
    "server_context",
]

log = structlog.get_logger(__name__)


def server_context(cert: str, key: str, ca: str = "") -> ssl.SSLContext:
    """A TLS 1.2+ server context; with ``ca``, a client certificate from it is required.

    Raises:
        ConfigError: a file is missing or not a certificate/key (naming the setting).
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"CARELOG_MLLP_TLS_CERT/_KEY: cannot load {cert}, {key}: {e}") from e
    if ca:
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"CARELOG_MLLP_TLS_CA: cannot load {ca}: {e}") from e
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca: str = "", cert: str = "", key: str = "") -> ssl.SSLContext:
    """A TLS 1.2+ client context verifying the server (against ``ca``, else the system's).

    Raises:
        ConfigError: a file cannot be loaded.
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert:
            context.load_cert_chain(cert, key or None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"TLS client files ({ca or '-'}, {cert or '-'}): {e}") from e
    return context


def peer_identities(peercert: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The names a verified client certificate carries: subject CNs, then SAN values."""
    if not peercert:
        return ()
    names: list[str] = []
    for rdn in peercert.get("subject", ()):
        names.extend(value for key, value in rdn if key == "commonName")
    names.extend(value for _, value in peercert.get("subjectAltName", ()))
    return tuple(dict.fromkeys(names))


def sending_pair(raw: bytes) -> tuple[str, str] | None:
    """MSH-3 and MSH-4 of a message, read from its first line; None without an MSH.

    Only the header is split (not the whole message): the check runs on every
    message of a bound connection.
    """
    head = raw.lstrip(b"\r\n \t").split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not head.startswith(b"MSH") or len(head) < 8:
        return None
    text = head.decode("latin-1")
    fields = text[3:].split(text[3])  # [''(MSH-1), MSH-2, MSH-3, MSH-4, ...]
    if len(fields) < 4:
        return None
    return fields[2], fields[3]


@dataclass(frozen=True)
class SenderBindings:
    """Certificate identity -> the (MSH-3, MSH-4) pairs it may send.

    A pair's value matches a field equal to it or whose first component
    (the HD namespace id) is; ``*`` matches anything. An identity that is not
    in the file may send nothing: bindings deny by default.
    """

    allowed: Mapping[str, frozenset[tuple[str, str]]]

    @classmethod
    def load(cls, path: str) -> SenderBindings:
        """Reads the bindings file (TOML or JSON, docs/tls.md).

        Raises:
            ConfigError: the file cannot be read or is not of that form.
        """
        try:
            text = Path(path).read_text()
            data = json.loads(text) if path.endswith(".json") else tomllib.loads(text)
        except (OSError, ValueError) as e:
            raise ConfigError(f"CARELOG_MLLP_SENDERS: cannot read {path}: {e}") from e
        senders = data.get("senders") if isinstance(data, dict) else None
        if not isinstance(senders, dict):
            raise ConfigError(f"CARELOG_MLLP_SENDERS: {path} has no [senders] table")
        allowed: dict[str, frozenset[tuple[str, str]]] = {}
        for identity, pairs in senders.items():
            allowed[identity] = frozenset(_pairs(identity, pairs, path))
        return cls(allowed)

    def permits(self, identities: Iterable[str], pair: tuple[str, str] | None) -> bool:
        """True when one of ``identities`` may send as ``pair`` (MSH-3, MSH-4)."""
        if pair is None:
            return False
        msh3, msh4 = pair
        for identity in identities:
            for app, facility in self.allowed.get(identity, ()):
                if _matches(app, msh3) and _matches(facility, msh4):
                    return True
        return False


def _pairs(identity: str, pairs: Any, path: str) -> Iterable[tuple[str, str]]:
    if not isinstance(pairs, list):
        raise ConfigError(f"CARELOG_MLLP_SENDERS: {path}: {identity!r} needs a list of pairs")
    for pair in pairs:
        if isinstance(pair, dict) and {"msh3", "msh4"} <= pair.keys():
            yield str(pair["msh3"]), str(pair["msh4"])
        else:
            raise ConfigError(
                f"CARELOG_MLLP_SENDERS: {path}: {identity!r}: expected "
                f'{{msh3 = "...", msh4 = "..."}}, got {pair!r}'
            )


def _matches(bound: str, value: str) -> bool:
    if bound == "*" or bound == value:
        return True
    first = value.split("^", 1)[0]
    return bool(first) and bound == first


@dataclass(frozen=True)
class Refusal:
    """One refused MLLP sender: no PHI, only what traces it (peer, names, header ids)."""

    reason: str  # "sender_not_bound", "too_many_connections", "handshake_failed"
    peer: str
    identities: tuple[str, ...] = ()
    msh3: str = ""
    msh4: str = ""
    control_id: str = ""


@dataclass
class SenderRefusals:
    """The one place an MLLP refusal is recorded: a log event, a counter, and hooks.

    ``hooks`` are called with each refusal (the access log of issue 13 adds
    itself here); a failing hook is logged and does not stop the others.
    """

    counts: Counter[str] = field(default_factory=Counter)
    hooks: list[Callable[[Refusal], None]] = field(default_factory=list)

    def record(self, refusal: Refusal) -> None:
        """Logs, counts and hands ``refusal`` to every hook (the access log's place)."""
        self.counts[refusal.reason] += 1
        log.warning(
            "mllp.refused",
            reason=refusal.reason,
            peer=refusal.peer,
            identities=list(refusal.identities),
            msh3=refusal.msh3,
            msh4=refusal.msh4,
            msg_control_id=refusal.control_id,
        )
        for hook in self.hooks:
            try:
                hook(refusal)
            except Exception as e:
                log.error("mllp.refusal_hook_failed", error=type(e).__name__)

    def gauges(self) -> dict[str, float]:
        """Prometheus counters, one per reason (zero included, so alerts can rate() them)."""
        return {
            f"carelog_mllp_refused_{reason}_total": self.counts[reason]
            for reason in ("sender_not_bound", "too_many_connections", "handshake_failed")
        }
