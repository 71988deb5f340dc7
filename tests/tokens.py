"""Bearer tokens for tests: one helper so every HTTP test carries a valid token in one line.

In-process apps: ``create_app(..., access=tokens.access())`` (or
``tokens.access(log)`` to keep the access log), then
``headers=tokens.bearer("user/*.rs")`` or ``tokens.FULL_ACCESS`` (every scope).
`carelog serve` subprocesses: ``tokens.bearer_for_store(store_url, ...)``
signs with the embedded issuer key of that store's data directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from adapters.http.access import AccessControl
from adapters.security.access_log import AccessLog
from adapters.security.issuer import EmbeddedIssuer
from adapters.security.tokens import EmbeddedKeys, TokenVerifier
from engine.config import Settings

__all__ = ["ALL_SCOPES", "FULL_ACCESS", "ISSUER", "access", "bearer", "bearer_for_store"]

ALL_SCOPES = (
    "user/*.cruds carelog/queue.read carelog/billing.read carelog/audit.read carelog/operator"
)
_KEY_DIR = Path(tempfile.mkdtemp(prefix="carelog-test-issuer-"))
ISSUER = EmbeddedIssuer(_KEY_DIR / "key.pem", "carelog")
"""One signing key for the whole test session (a fresh one per run)."""


def access(access_log: AccessLog | None = None) -> AccessControl:
    """An access layer that accepts ISSUER's tokens (and keeps ``access_log`` if given)."""
    verifier = TokenVerifier(EmbeddedKeys(ISSUER), issuer=ISSUER.issuer, audience="carelog")
    return AccessControl(verifier, access_log, ISSUER)


def bearer(
    scopes: str = ALL_SCOPES,
    *,
    patient: str | None = None,
    sub: str = "test-user",
    ttl_s: int = 3600,
    issuer: EmbeddedIssuer = ISSUER,
) -> dict[str, str]:
    """An ``Authorization`` header with a token for ``scopes``."""
    token = issuer.mint(scopes, subject=sub, patient=patient, ttl_s=ttl_s, client_id="tests")
    return {"Authorization": f"Bearer {token}"}


FULL_ACCESS = bearer(ttl_s=24 * 3600)
"""Every scope carelog knows (user-level: no patient compartment)."""


def bearer_for_store(
    store: str, scopes: str = ALL_SCOPES, *, patient: str | None = None, sub: str = "test-user"
) -> dict[str, str]:
    """A header for `carelog serve` on ``store``: its embedded issuer's key (made if absent)."""
    settings = Settings.from_env({"CARELOG_STORE": store})
    issuer = EmbeddedIssuer(settings.issuer_key_path(), settings.auth_audience)
    return bearer(scopes, issuer=issuer, patient=patient, sub=sub)
