"""The embedded issuer: a signing key in the data directory, and the tokens `carelog token` mints.

carelog is a resource server; in the embedded default there is no hospital
identity provider, so carelog carries a tiny issuer of its own so that
``make run`` and the README's first five minutes need nothing else. The key
is an EC P-256 key (ES256), created on first use with file mode 0600, and
never leaves the file: the access layer verifies with its public half, which
``/.well-known/jwks.json`` publishes. With ``CARELOG_AUTH_ISSUER`` set, the
embedded issuer is off and `carelog token` refuses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from engine.errors import ConfigError

__all__ = ["EMBEDDED_ISSUER", "EmbeddedIssuer", "parse_duration"]

EMBEDDED_ISSUER = "urn:carelog:embedded-issuer"
"""The ``iss`` of embedded tokens (no URL: nothing outside carelog serves it)."""
MAX_TTL_S = 30 * 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``8h``, ``7d`` (or bare seconds) as seconds, up to 30 days.

    Raises:
        ConfigError: not a duration, zero, or longer than 30 days.
    """
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if m is None:
        raise ConfigError(f"--ttl: expected a duration like 15m, 8h or 7d, got {text!r}")
    seconds = int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if not 0 < seconds <= MAX_TTL_S:
        raise ConfigError(f"--ttl: expected more than 0 and at most 30d, got {text!r}")
    return seconds


class EmbeddedIssuer:
    """The signing key at ``key_path`` (created if absent) and what it signs."""

    def __init__(self, key_path: Path, audience: str) -> None:
        self.key_path = key_path
        self.audience = audience
        self._key = _load_or_create(key_path)
        public = self._key.public_key().public_numbers()
        self.public_jwk: dict[str, str] = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(public.x.to_bytes(32, "big")),
            "y": _b64(public.y.to_bytes(32, "big")),
        }
        # RFC 7638 thumbprint: the kid changes exactly when the key does.
        canonical = json.dumps(self.public_jwk, separators=(",", ":"), sort_keys=True)
        self.kid = _b64(hashlib.sha256(canonical.encode()).digest())

    @property
    def issuer(self) -> str:
        return EMBEDDED_ISSUER

    def jwks(self) -> dict[str, Any]:
        """The public key set (what a verifier needs, nothing more)."""
        return {"keys": [{**self.public_jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]}

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def mint(
        self,
        scopes: str,
        *,
        subject: str = "carelog-cli",
        patient: str | None = None,
        ttl_s: int = 3600,
        client_id: str = "carelog-cli",
    ) -> str:
        """A signed access token for ``scopes`` (space separated)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "client_id": client_id,
            "scope": " ".join(scopes.split()),
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": str(uuid.uuid4()),
        }
        if patient:
            claims["patient"] = patient
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})


def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key in ``path``; a new one written there (0600, never overwritten) if absent."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    except OSError as e:
        raise ConfigError(f"CARELOG_AUTH_KEY_FILE: cannot read {path} ({e.strerror})") from e
    if not data:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile: use theirs
            return _load_or_create(path)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return key
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise ConfigError(f"CARELOG_AUTH_KEY_FILE: {path} is readable by others (chmod 600 it)")
    try:
        key_obj = serialization.load_pem_private_key(data, password=None)
    except ValueError as e:
        raise ConfigError(f"CARELOG_AUTH_KEY_FILE: {path} holds no PEM private key") from e
    if not isinstance(key_obj, ec.EllipticCurvePrivateKey) or key_obj.curve.name != "secp256r1":
        raise ConfigError(f"CARELOG_AUTH_KEY_FILE: {path} is not an EC P-256 key")
    return key_obj
