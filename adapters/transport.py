"""Transport security from Settings: TLS for MLLP, HTTP and Kafka, and the plain-text opt-in.

Secure by default: a listener that would carry patient data in clear text to
other machines refuses to start unless the operator says so, by name
(``CARELOG_MLLP_ALLOW_PLAINTEXT`` / ``CARELOG_HTTP_ALLOW_PLAINTEXT``). On
loopback (the embedded default) plain text stays the zero-setup path.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any

from adapters.mllp.tls import SenderBindings, SenderRefusals, client_context, server_context
from engine.config import Settings
from engine.errors import ConfigError

__all__ = [
    "check_plaintext",
    "http_tls_options",
    "is_loopback",
    "kafka_ssl_context",
    "mllp_options",
    "require_tls12",
]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; an empty or wildcard host is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def check_plaintext(settings: Settings) -> None:
    """Refuses a plain-text listener on a non-loopback address without its opt-in.

    Raises:
        ConfigError: naming the listener, its address, and the two ways out.
    """
    listeners = (
        ("MLLP", settings.mllp_host, settings.mllp_tls_cert, settings.mllp_allow_plaintext),
        ("HTTP", settings.http_host, settings.http_tls_cert, settings.http_allow_plaintext),
    )
    for name, host, cert, allowed in listeners:
        if not cert and not allowed and not is_loopback(host):
            raise ConfigError(
                f"CARELOG_{name}_ALLOW_PLAINTEXT: {name} on {host} is not loopback and has "
                f"no TLS; set CARELOG_{name}_TLS_CERT and CARELOG_{name}_TLS_KEY, or "
                f"CARELOG_{name}_ALLOW_PLAINTEXT=true to serve patient data in clear text"
            )


def mllp_options(settings: Settings, refusals: SenderRefusals) -> dict[str, Any]:
    """Keyword arguments of ``MLLPServer`` for TLS, sender bindings and the connection cap.

    Raises:
        ConfigError: a certificate, key, CA or bindings file cannot be loaded.
    """
    options: dict[str, Any] = {
        "max_connections_per_peer": settings.mllp_max_connections_per_peer,
        "handshake_timeout_s": settings.tls_handshake_timeout_s,
        "refusals": refusals,
    }
    if settings.mllp_tls_cert:
        options["ssl_context"] = server_context(
            settings.mllp_tls_cert, settings.mllp_tls_key, settings.mllp_tls_ca
        )
    if settings.mllp_senders:
        options["senders"] = SenderBindings.load(settings.mllp_senders)
    return options


def http_tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments for HTTPS (none without a certificate).

    uvicorn builds the context itself; ``require_tls12`` raises its floor after.
    """
    if not settings.http_tls_cert:
        return {}
    for key, path in (
        ("CARELOG_HTTP_TLS_CERT", settings.http_tls_cert),
        ("CARELOG_HTTP_TLS_KEY", settings.http_tls_key),
    ):
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise ConfigError(f"{key}: cannot read {path}: {e.strerror}") from e
    return {"ssl_certfile": settings.http_tls_cert, "ssl_keyfile": settings.http_tls_key}


def require_tls12(context: ssl.SSLContext | None) -> None:
    """TLS 1.2 as the lowest version a context accepts (OpenSSL's floor varies by build)."""
    if context is not None:
        context.minimum_version = ssl.TLSVersion.TLSv1_2


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The client context for the Kafka brokers (relay producer, topic admin, worker)."""
    if not settings.kafka_tls_ca:
        return None
    return client_context(settings.kafka_tls_ca, settings.kafka_tls_cert, settings.kafka_tls_key)
