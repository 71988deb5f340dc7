"""Console sign-in through the external issuer: OpenID Connect authorization code with PKCE.

The flow (OpenID Connect Core 1.0, section 3.1; RFC 7636 PKCE with S256):

1. ``/console/oidc/start`` makes a ``state``, a ``nonce`` and a code verifier,
   remembers them server-side under the state for 10 minutes, sets the state
   in a short-lived cookie (HttpOnly, SameSite=Lax: it must come back on the
   issuer's top-level redirect, which SameSite=Strict would drop) and sends
   the browser to the issuer's ``authorization_endpoint`` with the verifier's
   SHA-256 (``code_challenge``).
2. ``/console/oidc/callback`` takes the state once: it must be known, fresh,
   and equal to the cookie (so nobody can sign a victim's browser into the
   attacker's account by sending a callback link). The code goes to the
   ``token_endpoint`` with the verifier (and the client secret, if any);
   the ``id_token`` is checked with the same TokenVerifier code as every
   bearer token (the issuer's JWKS, asymmetric algorithms, ``iss``, ``exp``,
   ``aud`` = the client id), then its ``nonce``.
3. The operator scope: ``carelog/operator`` in the access token (a JWT for
   carelog's audience, verified like an API token), or in the id_token's
   ``scope``/``scp``, ``roles`` or ``groups`` claim (how Keycloak, Entra ID and
   others carry roles). Without it there is no session.

The session is opaque (``cs.`` and 32 random bytes) and lives in this process
(``ConsoleSessions``), so sign-out ends it for good; a restart signs everyone
out. The issuer's configuration comes from its discovery document, fetched on
first use.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.security.principal import Principal
from adapters.security.tokens import InvalidTokenError, KeySource, TokenVerifier

__all__ = [
    "OPERATOR_SCOPE",
    "SESSION_PREFIX",
    "ConsoleSessions",
    "OidcClient",
    "OidcError",
    "pkce_challenge",
]

OPERATOR_SCOPE = "carelog/operator"
SESSION_PREFIX = "cs."
STATE_COOKIE = "carelog_oidc_state"
_PENDING_S = 600  # how long a started sign-in may take at the issuer


class OidcError(Exception):
    """The sign-in did not complete; the message is safe to show (no token, no secret)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class ConsoleSessions:
    """Open console sessions (opaque ids) and signed-out link sessions, in this process."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[Principal, float]] = {}
        self._revoked: dict[str, float] = {}  # a link session's token -> when it expires
        self._lock = threading.Lock()

    def open(self, principal: Principal, ttl_s: int) -> str:
        """A new session id for ``principal``, valid ``ttl_s`` seconds."""
        session = SESSION_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._open = {k: v for k, v in self._open.items() if v[1] > now}
            self._open[session] = (principal, now + ttl_s)
        return session

    def principal(self, session: str) -> Principal:
        """Who a session id stands for.

        Raises:
            InvalidTokenError: unknown, signed out or expired.
        """
        with self._lock:
            found = self._open.get(session)
        if found is None or found[1] < time.time():
            raise InvalidTokenError("the console session has ended: sign in again")
        return found[0]

    def close(self, session: str, expires_at: float = 0) -> None:
        """Ends a session; a link session (a JWT) is refused until ``expires_at``."""
        with self._lock:
            self._open.pop(session, None)
            if not session.startswith(SESSION_PREFIX):
                now = time.time()
                self._revoked = {k: v for k, v in self._revoked.items() if v > now}
                self._revoked[session] = expires_at or now + 24 * 3600

    def revoked(self, session: str) -> bool:
        """Whether a link session was signed out."""
        with self._lock:
            return self._revoked.get(session, 0) > time.time()


@dataclass(frozen=True, slots=True)
class _Pending:
    verifier: str
    nonce: str
    expires: float


@dataclass(frozen=True, slots=True)
class Endpoints:
    """What the discovery document says (the parts the console uses)."""

    authorization: str
    token: str
    end_session: str = ""


class OidcClient:
    """The console's OpenID Connect relying party for ``issuer`` (see the module docstring)."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        redirect_url: str,
        keys: KeySource,
        api_verifier: TokenVerifier,
        scopes: str = "openid carelog/operator",
        client_secret_file: str = "",
        leeway_s: int = 30,
        session_ttl_s: int = 8 * 3600,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.redirect_url = redirect_url
        self.scopes = scopes
        self.secret_file = client_secret_file
        self.session_ttl_s = session_ttl_s
        self.id_tokens = TokenVerifier(
            keys, issuer=self.issuer, audience=client_id, leeway_s=leeway_s
        )
        self.api_verifier = api_verifier
        self._endpoints: Endpoints | None = None
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def endpoints(self) -> Endpoints:
        """The issuer's endpoints, discovered once (``/.well-known/openid-configuration``).

        Raises:
            OidcError: the document cannot be read, names another issuer, or lacks S256.
        """
        if self._endpoints is not None:
            return self._endpoints
        url = self.issuer + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                document = json.load(response)
        except (OSError, ValueError) as e:
            raise OidcError(f"cannot read the identity provider's configuration: {e}", 502) from e
        if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != self.issuer:
            raise OidcError("the identity provider's configuration names another issuer", 502)
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise OidcError("the identity provider does not support PKCE with S256", 502)
        try:
            found = Endpoints(
                authorization=str(document["authorization_endpoint"]),
                token=str(document["token_endpoint"]),
                end_session=str(document.get("end_session_endpoint", "")),
            )
        except KeyError as e:
            raise OidcError(f"the identity provider's configuration lacks {e}", 502) from e
        self._endpoints = found
        return found

    def begin(self) -> tuple[str, str]:
        """(the authorization URL to send the browser to, the state for its cookie)."""
        endpoints = self.endpoints()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters: within RFC 7636's 43..128
        now = time.time()
        with self._lock:
            self._pending = {k: p for k, p in self._pending.items() if p.expires > now}
            self._pending[state] = _Pending(verifier, nonce, now + _PENDING_S)
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_url,
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in endpoints.authorization else "?"
        return f"{endpoints.authorization}{separator}{query}", state

    def finish(self, *, state: str, cookie_state: str, code: str, error: str = "") -> Principal:
        """The operator who signed in, after every check of the module docstring.

        Raises:
            OidcError: naming the check that failed (no session is made).
        """
        with self._lock:
            pending = self._pending.pop(state, None) if state else None
        if error:
            raise OidcError(f"the identity provider refused the sign-in: {error[:100]}")
        if pending is None or pending.expires < time.time():
            raise OidcError("unknown or expired sign-in state: start again", 400)
        if not secrets.compare_digest(state, cookie_state or ""):
            raise OidcError("the sign-in state does not belong to this browser: start again", 400)
        if not code:
            raise OidcError("the identity provider sent no authorization code", 400)
        tokens = self._redeem(code, pending.verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the identity provider sent no id_token")
        try:
            claims = self.id_tokens.claims(id_token)
        except InvalidTokenError as e:
            raise OidcError(f"the id_token was refused: {e}") from e
        if not secrets.compare_digest(str(claims.get("nonce", "")), pending.nonce):
            raise OidcError("the id_token's nonce does not match this sign-in")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("the id_token was issued to another client (azp)")
        if OPERATOR_SCOPE not in self._granted(claims, tokens.get("access_token")):
            raise OidcError(
                f"your account is not granted {OPERATOR_SCOPE}: ask for the operator role", 403
            )
        return Principal(
            subject=str(claims["sub"]),
            client_id=self.client_id,
            token_id=str(claims.get("jti") or claims.get("sid") or ""),
            scopes=frozenset({OPERATOR_SCOPE}),
        )

    def _redeem(self, code: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for ``code`` (RFC 6749 4.1.3, with the PKCE verifier)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_url,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.secret_file:
            secret = Path(self.secret_file).read_text().strip()
            pair = f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = urllib.request.Request(
            self.endpoints().token,
            data=urllib.parse.urlencode(form).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as e:
            reason = _error_of(e)
            raise OidcError(f"the identity provider refused the code: {reason}") from e
        except (OSError, ValueError) as e:
            raise OidcError(f"cannot reach the identity provider's token endpoint: {e}", 502) from e
        if not isinstance(answer, dict):
            raise OidcError("the token endpoint's answer is not a JSON object", 502)
        return answer

    def _granted(self, claims: dict[str, Any], access_token: Any) -> set[str]:
        """carelog scopes the sign-in carries: the access token's, else the id_token's roles."""
        granted: set[str] = set()
        if isinstance(access_token, str) and access_token.count(".") == 2:
            # Not a token for carelog: then the id_token's claims decide.
            with contextlib.suppress(InvalidTokenError):
                granted |= self.api_verifier.verify(access_token).scopes
        for name in ("scope", "scp", "roles", "groups"):
            value = claims.get(name)
            if isinstance(value, str):
                granted |= set(value.split())
            elif isinstance(value, list):
                granted |= {str(v) for v in value}
        return granted


def _error_of(e: urllib.error.HTTPError) -> str:
    """The OAuth ``error`` code of a refused token request (never its body as a whole)."""
    try:
        body = json.loads(e.read() or b"{}")
    except ValueError:
        body = {}
    code = body.get("error") if isinstance(body, dict) else None
    return str(code)[:60] if code else f"HTTP {e.code}"
