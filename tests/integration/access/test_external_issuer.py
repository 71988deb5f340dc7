"""An external issuer: its JWKS served over real HTTP on 127.0.0.1, discovered from its
OpenID configuration, cached, and fetched again when a token names a new key (rotation)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from adapters.http.access import AccessControl
from adapters.http.app import create_app
from adapters.security.setup import verifier_for
from adapters.security.tokens import InvalidTokenError
from engine.config import Settings
from projections.patients import MemoryPatientView
from tests.asgi import get


class Idp:
    """A tiny identity provider: RSA keys, its JWKS and OpenID configuration over HTTP."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.jwks_fetches = 0
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": idp.url, "jwks_uri": f"{idp.url}/keys"}
                elif self.path == "/keys":
                    idp.jwks_fetches += 1
                    body = {"keys": [idp.public_jwk(kid) for kid in idp.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_jwk(self, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": "carelog-api", "sub": "svc", "exp": now + 300,
                   "iat": now, "scope": "system/Patient.rs", **claims}  # fmt: skip
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp() -> Iterator[Idp]:
    server = Idp()
    server.add_key("k1")
    yield server
    server.close()


def test_tokens_of_an_external_issuer_are_verified_against_its_rotating_keys(idp: Idp) -> None:
    settings = Settings.from_env(
        {
            "CARELOG_AUTH_ISSUER": idp.url,
            "CARELOG_AUTH_AUDIENCE": "carelog-api",
            "CARELOG_AUTH_JWKS_REFRESH": "0",  # a new kid is fetched at once
        }
    )
    verifier, embedded = verifier_for(settings)
    assert embedded is None and verifier.external
    principal = verifier.verify(idp.token("k1", jti="j1", client_id="lab-app"))
    assert (principal.subject, principal.client_id, principal.token_id) == ("svc", "lab-app", "j1")
    assert principal.scopes == frozenset({"system/Patient.rs"})
    fetches = idp.jwks_fetches
    verifier.verify(idp.token("k1"))
    assert idp.jwks_fetches == fetches  # cached
    idp.add_key("k2")  # rotation: the issuer publishes a new key and signs with it
    assert verifier.verify(idp.token("k2")).subject == "svc"
    assert idp.jwks_fetches == fetches + 1
    with pytest.raises(InvalidTokenError, match="unknown signing key"):
        verifier.verify(_renamed(idp, "k3"))
    with pytest.raises(InvalidTokenError, match="another audience"):
        verifier.verify(idp.token("k1", aud="carelog"))
    with pytest.raises(InvalidTokenError, match="another issuer"):
        verifier.verify(idp.token("k1", iss="https://elsewhere.example"))


def _renamed(idp: Idp, kid: str) -> str:
    """A token signed by k1 that claims a kid the issuer never published."""
    return jwt.encode(
        {"iss": idp.url, "aud": "carelog-api", "sub": "x", "exp": int(time.time()) + 60},
        idp.keys["k1"],
        algorithm="RS256",
        headers={"kid": kid},
    )


def test_the_app_serves_an_external_issuers_token_and_refuses_carelog_token(idp: Idp) -> None:
    settings = Settings.from_env(
        {
            "CARELOG_AUTH_ISSUER": idp.url,
            "CARELOG_AUTH_JWKS_URL": f"{idp.url}/keys",
            "CARELOG_AUTH_AUDIENCE": "carelog-api",
        }
    )
    verifier, _ = verifier_for(settings)
    app = create_app(
        {"patients": MemoryPatientView()},
        health=lambda: {"ready": True},
        access=AccessControl(verifier),
    )
    good = {"Authorization": f"Bearer {idp.token('k1')}"}
    assert get(app, "/fhir/Patient/nobody", headers=good).status_code == 404  # through the gate
    assert get(app, "/fhir/Patient/nobody", headers={}).status_code == 401
    assert get(app, "/.well-known/jwks.json", auth=False).status_code == 404  # not ours to serve
    smart = get(app, "/.well-known/smart-configuration", auth=False).json()
    assert smart["issuer"] == idp.url
