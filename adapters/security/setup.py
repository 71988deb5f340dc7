"""The token verifier (and embedded issuer) that Settings call for.

``CARELOG_AUTH_ISSUER`` unset: the embedded issuer, whose key lives in the
data directory; it refuses to serve on a non-loopback HTTP address unless
``CARELOG_AUTH_EMBEDDED_ANY_ADDRESS=1`` (its tokens are minted by whoever can
run `carelog token` on this machine: fine for one workstation, not for a
network). Set: that issuer's JWKS (``CARELOG_AUTH_JWKS_URL``, else
discovered from the issuer's well-known configuration on first use).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from adapters.security.issuer import EmbeddedIssuer
from adapters.security.tokens import (
    EmbeddedKeys,
    JwksKeys,
    TokenVerifier,
    discover_jwks_url,
)
from engine.config import Settings
from engine.errors import ConfigError

__all__ = ["check_embedded_address", "embedded_issuer", "verifier_for"]


def embedded_issuer(settings: Settings) -> EmbeddedIssuer:
    """The embedded issuer of ``settings`` (its key created on first use).

    Raises:
        ConfigError: an external issuer is configured, or the key file is unusable.
    """
    if settings.auth_issuer:
        raise ConfigError(
            f"an external token issuer is configured ({settings.auth_issuer}): "
            "get tokens from it, not from carelog"
        )
    return EmbeddedIssuer(settings.issuer_key_path(), settings.auth_audience)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_embedded_address(settings: Settings) -> None:
    """Refuses the embedded issuer on a non-loopback HTTP address without the opt-in.

    Raises:
        ConfigError: naming the setting that would allow it.
    """
    if settings.auth_issuer or settings.auth_embedded_any_address:
        return
    if not _loopback(settings.http_host):
        raise ConfigError(
            f"CARELOG_HTTP: the embedded token issuer serves only on a loopback address "
            f"(got {settings.http_host}); configure CARELOG_AUTH_ISSUER, or set "
            "CARELOG_AUTH_EMBEDDED_ANY_ADDRESS=1 to accept embedded tokens on the network"
        )


class _DiscoveredKeys:
    """An external issuer's JWKS, its URL discovered on first use (and retried until found)."""

    def __init__(self, issuer: str, cooldown_s: float) -> None:
        self.issuer = issuer
        self.cooldown_s = cooldown_s
        self._keys: JwksKeys | None = None

    def key_for(self, kid: str | None) -> Any:
        if self._keys is None:
            self._keys = JwksKeys(discover_jwks_url(self.issuer), cooldown_s=self.cooldown_s)
        return self._keys.key_for(kid)


def verifier_for(settings: Settings) -> tuple[TokenVerifier, EmbeddedIssuer | None]:
    """The verifier for ``settings`` and, in the embedded default, the issuer."""
    if settings.auth_issuer:
        keys: Any = (
            JwksKeys(settings.auth_jwks_url, cooldown_s=settings.auth_jwks_refresh_s)
            if settings.auth_jwks_url
            else _DiscoveredKeys(settings.auth_issuer, settings.auth_jwks_refresh_s)
        )
        verifier = TokenVerifier(
            keys,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_s=settings.auth_leeway_s,
        )
        return verifier, None
    issuer = embedded_issuer(settings)
    verifier = TokenVerifier(
        EmbeddedKeys(issuer),
        issuer=issuer.issuer,
        audience=settings.auth_audience,
        leeway_s=settings.auth_leeway_s,
    )
    return verifier, issuer
