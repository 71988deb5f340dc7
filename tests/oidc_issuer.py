"""A small OpenID Connect provider for tests, served by uvicorn on 127.0.0.1.

It follows the parts of OpenID Connect Core 1.0 and RFC 7636 a relying party
depends on: discovery, an authorization endpoint that checks the client, the
registered redirect URI and the PKCE challenge (S256 only) and shows a login
page, a token endpoint that redeems each code once, only for the same client
and redirect URI and only with the verifier matching the challenge, and a
JWKS. The id_token (ES256) carries ``nonce``, ``aud`` = client id, ``azp``;
the access token is a JWT for carelog's audience with the user's scopes.

``tamper`` makes the next tokens wrong on purpose for negative tests:
``nonce`` (another nonce), ``expired`` (exp an hour ago), ``forged`` (signed
with a key not in the JWKS, same kid), ``audience`` (id_token for another
client).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jwt.algorithms import ECAlgorithm

KID = "test-issuer-1"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    user: str
    scope: str


@dataclass
class OidcProvider:
    """The provider's state: clients, users and their scopes, codes issued."""

    client_id: str = "carelog-console"
    client_secret: str = ""
    redirect_uris: list[str] = field(default_factory=list)
    audience: str = "carelog"
    users: dict[str, str] = field(default_factory=dict)  # user -> scopes granted
    roles_claim: bool = False  # put scopes in the id_token's roles instead of the access token
    tamper: str = ""
    url: str = ""
    codes: dict[str, _Code] = field(default_factory=dict)
    redeemed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.other_key = ec.generate_private_key(ec.SECP256R1())
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- serving -----------------------------------------------------------------
    def start(self) -> OidcProvider:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:  # bounded wait on the server's own flag
            if time.monotonic() > deadline:
                raise RuntimeError("the test issuer did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    # -- tokens ------------------------------------------------------------------
    def _sign(self, claims: dict[str, Any]) -> str:
        key = self.other_key if self.tamper == "forged" else self.key
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": KID})

    def _tokens(self, code: _Code) -> dict[str, Any]:
        now = int(time.time())
        exp = now - 3600 if self.tamper == "expired" else now + 300
        id_claims: dict[str, Any] = {
            "iss": self.url,
            "sub": code.user,
            "aud": "someone-else" if self.tamper == "audience" else code.client_id,
            "azp": code.client_id,
            "exp": exp,
            "iat": now,
            "auth_time": now,
            "nonce": "not-the-nonce" if self.tamper == "nonce" else code.nonce,
            "jti": secrets.token_hex(8),
        }
        granted = self.users.get(code.user, "")
        if self.roles_claim:
            id_claims["roles"] = granted.split()
        access = {
            "iss": self.url,
            "sub": code.user,
            "aud": self.audience,
            "exp": now + 300,
            "iat": now,
            "client_id": code.client_id,
            "scope": "" if self.roles_claim else granted,
            "jti": secrets.token_hex(8),
        }
        return {
            "access_token": self._sign(access),
            "id_token": self._sign(id_claims),
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": code.scope,
        }

    def jwks(self) -> dict[str, Any]:
        import json

        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "alg": "ES256", "use": "sig"}]}

    # -- the app -----------------------------------------------------------------
    def app(self) -> FastAPI:
        app = FastAPI()
        issuer = self

        @app.get("/.well-known/openid-configuration")
        def configuration() -> dict[str, Any]:
            return {
                "issuer": issuer.url,
                "authorization_endpoint": f"{issuer.url}/authorize",
                "token_endpoint": f"{issuer.url}/token",
                "jwks_uri": f"{issuer.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code"],
            }

        @app.get("/jwks")
        def keys() -> dict[str, Any]:
            return issuer.jwks()

        @app.get("/authorize")
        def authorize(request: Request) -> Response:
            q = request.query_params
            problem = issuer._check_authorization(dict(q))
            if problem:
                return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in q.items()
            )
            page = (
                '<!doctype html><html lang="en"><head><title>Test issuer</title></head><body>'
                '<main><h1>Test issuer sign-in</h1><form method="post" action="/authorize">'
                f'{hidden}<label for="user">User</label> <input id="user" name="user" '
                'value="ops-1"> <button type="submit">Sign in</button></form></main></body></html>'
            )
            return HTMLResponse(page)

        @app.post("/authorize")
        async def approve(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            problem = issuer._check_authorization(form)
            if problem:
                return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)
            code = secrets.token_urlsafe(24)
            issuer.codes[code] = _Code(
                form["client_id"],
                form["redirect_uri"],
                form["code_challenge"],
                form.get("nonce", ""),
                form.get("user", "ops-1"),
                form.get("scope", ""),
            )
            query = urlencode({"code": code, "state": form.get("state", "")})
            return RedirectResponse(f"{form['redirect_uri']}?{query}", status_code=302)

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            client_id = form.get("client_id", "")
            auth = request.headers.get("authorization", "")
            if issuer.client_secret:
                expected = base64.b64encode(
                    f"{issuer.client_id}:{issuer.client_secret}".encode()
                ).decode()
                if auth != f"Basic {expected}":
                    return JSONResponse({"error": "invalid_client"}, status_code=401)
                client_id = client_id or issuer.client_id
            if form.get("grant_type") != "authorization_code":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            code = issuer.codes.pop(form.get("code", ""), None)  # once
            if code is None or code.client_id != client_id:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if form.get("redirect_uri") != code.redirect_uri:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not 43 <= len(verifier) <= 128 or challenge != code.challenge:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                    status_code=400,
                )
            issuer.redeemed.append(code.user)
            return JSONResponse(issuer._tokens(code), headers={"Cache-Control": "no-store"})

        return app

    def _check_authorization(self, q: dict[str, str]) -> str:
        if q.get("client_id") != self.client_id:
            return "unknown client"
        if q.get("redirect_uri") not in self.redirect_uris:
            return "redirect_uri is not registered"
        if q.get("response_type") != "code":
            return "response_type must be code"
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return "PKCE with S256 is required"
        if "openid" not in q.get("scope", "").split():
            return "scope must include openid"
        return ""
