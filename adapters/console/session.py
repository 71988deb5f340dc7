"""Console sign-in: a one-time link from the command line, then an HttpOnly session cookie.

``carelog console-link`` mints a short-lived token whose only scope is
``carelog/console.signin`` (useless as a bearer token anywhere else). Opening
the link once exchanges it for a session token (``carelog/operator``, 8 h by
default) kept in a cookie that scripts cannot read (HttpOnly), that no other
site's page sends (SameSite=Strict) and, under TLS, that travels only over
TLS (Secure). A second use of the link is refused: the link's token id is
remembered until it expires.

Every state-changing console request also carries a CSRF token: a hash of
the session cookie, written into the page's forms and htmx headers. A page
of another origin can neither read the cookie nor the page, so it cannot
produce the token (double submit, bound to the session).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from http.cookies import SimpleCookie

from starlette.types import Scope

from adapters.security.issuer import EmbeddedIssuer
from adapters.security.principal import Principal
from adapters.security.tokens import InvalidTokenError, TokenVerifier

__all__ = [
    "COOKIE",
    "LINK_CLIENT",
    "SESSION_CLIENT",
    "SIGNIN_SCOPE",
    "SignIn",
    "csrf_token",
    "session_cookie_of",
]

COOKIE = "carelog_console"
SIGNIN_SCOPE = "carelog/console.signin"
OPERATOR_SCOPE = "carelog/operator"
LINK_CLIENT = "carelog-console-link"
SESSION_CLIENT = "carelog-console"


def mint_link(issuer: EmbeddedIssuer, subject: str, ttl_s: int = 300) -> str:
    """The one-time sign-in token (the ``code`` of the link) for ``subject``."""
    return issuer.mint(SIGNIN_SCOPE, subject=subject, ttl_s=ttl_s, client_id=LINK_CLIENT)


def session_cookie_of(scope: Scope) -> str:
    """The console session cookie of a request, ``""`` when absent."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: as if none was sent
                return ""
            morsel = jar.get(COOKIE)
            if morsel is not None:
                return morsel.value
    return ""


def csrf_token(session: str) -> str:
    """The CSRF token of a session: the forms' hidden field and htmx's X-CSRF-Token header."""
    return hashlib.sha256(b"carelog-csrf:" + session.encode()).hexdigest()[:32]


def csrf_ok(session: str, sent: str) -> bool:
    """Whether ``sent`` is the session's CSRF token (constant time)."""
    return bool(session) and hmac.compare_digest(csrf_token(session), sent or "")


class SignIn:
    """Exchanges sign-in codes for session tokens, each code once."""

    def __init__(
        self,
        verifier: TokenVerifier,
        issuer: EmbeddedIssuer | None,
        session_ttl_s: int = 8 * 3600,
        oidc: bool = False,
    ) -> None:
        self.verifier = verifier
        self.issuer = issuer
        self.session_ttl_s = session_ttl_s
        self.oidc = oidc  # the sign-in page offers the external issuer (adapters/console/oidc.py)
        self._used: dict[str, float] = {}  # link token id -> when it expires
        self._lock = threading.Lock()

    def exchange(self, code: str) -> tuple[Principal, str]:
        """(who, session token) for a valid, unused sign-in code.

        Raises:
            InvalidTokenError: no embedded issuer, a bad or used code.
        """
        if self.issuer is None:
            raise InvalidTokenError("console sign-in links need the embedded issuer")
        principal = self.verifier.verify(code)
        if SIGNIN_SCOPE not in principal.scopes or principal.client_id != LINK_CLIENT:
            raise InvalidTokenError("not a console sign-in link")
        now = time.time()
        with self._lock:
            self._used = {jti: exp for jti, exp in self._used.items() if exp > now}
            if principal.token_id in self._used:
                raise InvalidTokenError("this sign-in link was used already")
            self._used[principal.token_id] = now + 3600  # beyond any link's lifetime
        session = self.issuer.mint(
            OPERATOR_SCOPE,
            subject=principal.subject,
            ttl_s=self.session_ttl_s,
            client_id=SESSION_CLIENT,
        )
        return principal, session
