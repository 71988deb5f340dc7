"""Bearer token validation: a JWT from the configured issuer becomes a Principal, or is refused.

carelog is a resource server. It checks a token's signature against the
issuer's published keys (JWKS, fetched and cached by PyJWT's
``PyJWKClient``, refetched when a token names an unknown ``kid``, which is
how key rotation reaches it), with an explicit allow-list of asymmetric
algorithms: never ``none``, never HS* (a verifier holding only a public key
must not accept a MAC keyed with that public key). ``exp``, ``iss``, ``aud``
and ``sub`` are required; clocks may differ by ``leeway_s``.

A client sends the same token with every request until it expires, so a
verified token is remembered (by its exact text, up to ``cache_size``
tokens) with its expiry: a repeat costs a dict lookup and a clock read
instead of a signature check. The expiry is checked again on every use.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import OrderedDict
from typing import Any, Protocol

import jwt
from jwt import PyJWKClient

from adapters.security.issuer import EmbeddedIssuer
from adapters.security.principal import Principal

__all__ = [
    "ALGORITHMS",
    "EmbeddedKeys",
    "InvalidTokenError",
    "JwksKeys",
    "TokenVerifier",
    "discover_jwks_url",
]

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""Asymmetric signatures only."""


class InvalidTokenError(Exception):
    """The token cannot be accepted; the message is safe to show the caller."""


class KeySource(Protocol):
    """Where the verifying key for a token's ``kid`` comes from."""

    def key_for(self, kid: str | None) -> Any: ...


class EmbeddedKeys:
    """The embedded issuer's own public key."""

    def __init__(self, issuer: EmbeddedIssuer) -> None:
        self._issuer = issuer

    def key_for(self, kid: str | None) -> Any:
        if kid != self._issuer.kid:
            raise InvalidTokenError("unknown signing key (kid)")
        return self._issuer.public_key()


class JwksKeys:
    """An external issuer's JWKS at ``url``: cached for ``lifespan_s``, refetched for a new kid."""

    def __init__(self, url: str, *, lifespan_s: float = 300, cooldown_s: float = 30) -> None:
        self.client = PyJWKClient(url, lifespan=lifespan_s, timeout=5, cooldown_duration=cooldown_s)

    def key_for(self, kid: str | None) -> Any:
        if not kid:
            raise InvalidTokenError("the token names no signing key (kid)")
        try:
            return self.client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as e:
            raise InvalidTokenError("the issuer's keys cannot be fetched now") from e
        except jwt.PyJWKClientError as e:
            raise InvalidTokenError("unknown signing key (kid)") from e


def discover_jwks_url(issuer: str, timeout_s: float = 5) -> str:
    """The ``jwks_uri`` of ``issuer``'s OpenID (else SMART) configuration document.

    Raises:
        InvalidTokenError: neither document names one.
    """
    for suffix in ("/.well-known/openid-configuration", "/.well-known/smart-configuration"):
        try:
            with urllib.request.urlopen(issuer + suffix, timeout=timeout_s) as response:
                document = json.load(response)
        except (OSError, ValueError):
            continue
        uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if isinstance(uri, str) and uri.startswith(("https://", "http://")):
            return uri
    raise InvalidTokenError(f"cannot discover the JWKS of {issuer}")


class TokenVerifier:
    """Turns a compact JWT into a Principal; raises InvalidTokenError otherwise."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_s: int = 30,
        algorithms: tuple[str, ...] = ALGORITHMS,
        cache_size: int = 4096,
    ) -> None:
        if not set(algorithms) <= set(ALGORITHMS):
            raise ValueError(f"only asymmetric algorithms may be allowed: {algorithms}")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.algorithms = list(algorithms)
        self.external = not isinstance(keys, EmbeddedKeys)
        self.cache_size = cache_size
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        """The principal ``token`` stands for.

        Raises:
            InvalidTokenError: malformed, badly signed, expired, or for someone else.
        """
        with self._lock:
            known = self._verified.get(token)
        if known is not None:
            principal, expires = known
            if time.time() <= expires + self.leeway_s:
                return principal
            with self._lock:
                self._verified.pop(token, None)
            raise InvalidTokenError("the token has expired")
        principal, expires = self._check(token)
        if self.cache_size > 0:
            with self._lock:
                self._verified[token] = (principal, expires)
                while len(self._verified) > self.cache_size:
                    self._verified.popitem(last=False)
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        """The full check of a token not seen before: its principal and its ``exp``."""
        claims = self.claims(token)
        return _principal(claims), float(claims["exp"])

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token`` (uncached), for an OpenID Connect client's checks.

        Raises:
            InvalidTokenError: malformed, badly signed, expired, or for someone else.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise InvalidTokenError("malformed token") from e
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise InvalidTokenError(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        key = self.keys.key_for(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise InvalidTokenError("the token has expired") from e
        except jwt.InvalidAudienceError as e:
            raise InvalidTokenError("the token is for another audience") from e
        except jwt.InvalidIssuerError as e:
            raise InvalidTokenError("the token is from another issuer") from e
        except jwt.InvalidTokenError as e:
            raise InvalidTokenError("the token is not valid") from e
        return claims


def _principal(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope", "")
    if isinstance(scope, list):  # some issuers send scp/scope as an array
        scope = " ".join(str(s) for s in scope)
    if not isinstance(scope, str):
        raise InvalidTokenError("the token's scope claim is not a string")
    patient = claims.get("patient")
    client_id = claims.get("client_id") or claims.get("azp") or ""
    return Principal(
        subject=str(claims["sub"]),
        client_id=str(client_id),
        token_id=str(claims.get("jti", "")),
        scopes=frozenset(scope.split()),
        patient=str(patient) if patient else None,
    )
