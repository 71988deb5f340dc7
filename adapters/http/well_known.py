"""``/.well-known/smart-configuration`` (public) and the embedded issuer's ``jwks.json``.

The SMART configuration tells a client where tokens come from and which
scopes and capabilities this server understands. The JWKS route publishes
the embedded issuer's public key (no secret: what a verifier needs); with
an external issuer it answers 404, the issuer publishes its own.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.access import AccessControl
from adapters.http.problem import problem

__all__ = ["well_known_router"]

SCOPES = (
    "system/*.rs",
    "user/*.cruds",
    "patient/*.rs",
    "carelog/queue.read",
    "carelog/billing.read",
    "carelog/audit.read",
    "carelog/operator",
)


def well_known_router(access: AccessControl) -> APIRouter:
    """The discovery routes for ``access``'s issuer."""
    router = APIRouter()

    @router.get("/.well-known/smart-configuration")
    def smart_configuration(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        embedded = access.issuer is not None
        body = {
            "issuer": access.verifier.issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json" if embedded else None,
            "grant_types_supported": [] if embedded else ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],
            "capabilities": [
                "permission-v1",
                "permission-v2",
                "permission-patient",
                "permission-user",
                "context-standalone-patient",
            ],
            "code_challenge_methods_supported": ["S256"],
        }
        if embedded:
            body["token_endpoint"] = None
            body["carelog_token_command"] = 'carelog token --scope "SCOPES"'
        return JSONResponse({k: v for k, v in body.items() if v is not None})

    @router.get("/.well-known/jwks.json")
    def jwks() -> JSONResponse:
        if access.issuer is None:
            return problem(404, "no embedded issuer: the token issuer publishes its own keys")
        return JSONResponse(access.issuer.jwks())

    return router
