"""The access layer of the HTTP app: authenticate, authorize by the policy table, log the access.

A plain ASGI middleware in front of the FastAPI app. For each request it
finds the route (as the router will), looks its row up in
``adapters.security.policy.POLICY`` and:

- a public row: passes the request on, nothing else;
- otherwise needs ``Authorization: Bearer <JWT>``: none or an invalid one
  is answered 401 with ``WWW-Authenticate: Bearer``;
- a route without a row, or a token without the scope the row names, is
  answered 403 (deny by default);
- a ``patient/`` scope reaches only the token's patient: a path or search
  naming another patient is refused before the handler runs, and a read
  whose handler reports (``touched``) another patient is answered 403
  instead of its body, which is held back until that check;
- every request on a PHI route, and every refusal, becomes access-log
  entries (one per patient touched) handed to the AccessLog buffer.

Errors under /fhir are OperationOutcomes, under /api problem details.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Router, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.console.oidc import SESSION_PREFIX, ConsoleSessions
from adapters.console.session import session_cookie_of
from adapters.http.fhir_json import operation_outcome
from adapters.http.problem import problem
from adapters.security.access_log import AccessEntry, AccessLog, Store
from adapters.security.issuer import EmbeddedIssuer
from adapters.security.policy import FROM_PATH, Rule, allows_route, rule_for
from adapters.security.principal import Principal
from adapters.security.scopes import Reach
from adapters.security.setup import check_embedded_address, verifier_for
from adapters.security.tokens import InvalidTokenError, TokenVerifier
from engine.config import Settings

__all__ = [
    "AccessControl",
    "AccessMiddleware",
    "build_access",
    "refusal_response",
    "route_table",
]

_REALM = 'Bearer realm="carelog"'


@dataclass
class AccessControl:
    """What the access layer runs on: the token verifier and the access log."""

    verifier: TokenVerifier
    access_log: AccessLog | None = None
    issuer: EmbeddedIssuer | None = None  # the embedded one, whose JWKS the app serves
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # The console's sessions (adapters/console/oidc.py) and, with an external issuer and
    # CARELOG_CONSOLE_OIDC_CLIENT_ID, its OpenID Connect client (an OidcClient).
    sessions: ConsoleSessions = field(default_factory=ConsoleSessions)
    oidc: Any = None

    @classmethod
    def refusing_all(cls) -> AccessControl:
        """An access layer that accepts no token: only public routes answer."""
        return cls(TokenVerifier(_NoKeys(), issuer="urn:carelog:none", audience="carelog"))

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` header value.

        Raises:
            InvalidTokenError: no bearer token, or one that does not verify.
        """
        if not authorization:
            raise InvalidTokenError("a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidTokenError("the Authorization header must be 'Bearer <token>'")
        if self.verifier.external:  # a JWKS fetch may block: not on the event loop
            return await anyio.to_thread.run_sync(self.verifier.verify, token)
        return self.verifier.verify(token)


def build_access(settings: Settings, store: Store | None) -> AccessControl:
    """The access layer ``settings`` call for; its access log stores through ``store``.

    The access log's flusher is started; stop it (``access_log.stop()``) before
    whatever ``store`` writes through goes away.

    Raises:
        ConfigError: the embedded issuer on a non-loopback address (no opt-in),
            or an unusable key file.
    """
    check_embedded_address(settings)
    verifier, issuer = verifier_for(settings)
    access_log = None
    if store is not None:
        access_log = AccessLog(store, flush_s=settings.access_log_flush_s)
        access_log.start()
    access = AccessControl(verifier, access_log, issuer)
    if settings.auth_issuer and settings.console_oidc_client_id:
        from adapters.console.oidc import OidcClient

        access.oidc = OidcClient(
            issuer=settings.auth_issuer,
            client_id=settings.console_oidc_client_id,
            redirect_url=settings.console_oidc_redirect_url,
            keys=verifier.keys,
            api_verifier=verifier,
            scopes=settings.console_oidc_scopes,
            client_secret_file=settings.console_oidc_client_secret_file,
            leeway_s=settings.auth_leeway_s,
        )
    return access


class _NoKeys:
    """A key source that knows no key (no issuer configured)."""

    def key_for(self, kid: str | None) -> Any:
        raise InvalidTokenError("no token issuer is configured")


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


def refusal_response(path: str, status: int, detail: str, scope: str = "") -> JSONResponse:
    """The 401 or 403 answer, in the format of the path's surface."""
    if status == 401:
        error = "" if detail == "a bearer token is required" else 'error="invalid_token", '
        challenge = f'{_REALM}, {error}error_description="{_quoted(detail)}"'
    else:
        challenge = f'{_REALM}, error="insufficient_scope", error_description="{_quoted(detail)}"'
        if scope:
            challenge += f', scope="{_quoted(scope)}"'
    if path.startswith("/fhir"):
        response: JSONResponse = operation_outcome(
            status, "login" if status == 401 else "forbidden", detail
        )
    elif path.startswith("/api"):
        response = problem(status, detail)
    else:
        response = JSONResponse({"detail": detail}, status_code=status)
    response.headers["WWW-Authenticate"] = challenge
    return response


def route_table(router: Router) -> list[tuple[str, frozenset[str]]]:
    """Every route of ``router`` as (path template, methods), included routers flattened.

    FastAPI keeps included routers as nodes of their own (``_IncludedRouter``);
    this walks them, adding their prefixes, so the access layer and the tests
    see the same list of endpoints the router serves.
    """
    return list(_walk(router.routes, ""))


def _walk(routes: list[BaseRoute], prefix: str) -> Iterator[tuple[str, frozenset[str]]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + str(getattr(context, "prefix", "")))
            continue
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        if path is None or methods is None:
            continue  # a mount or a websocket route: none in this app
        yield prefix + path, frozenset(methods)


class AccessMiddleware:
    """See the module docstring; ``router`` is the app's (to find the route)."""

    def __init__(self, app: ASGIApp, *, access: AccessControl, router: Router) -> None:
        self.app = app
        self.access = access
        self.router = router
        self._table: list[tuple[str, frozenset[str], re.Pattern[str]]] | None = None

    def _route(self, scope: Scope) -> tuple[str | None, dict[str, Any], bool]:
        """(path template, path params, full match) of the route the router will pick."""
        if self._table is None:  # built on first use: every route is added by then
            self._table = [
                (path, methods, compile_path(path)[0]) for path, methods in route_table(self.router)
            ]
        partial: str | None = None
        method = scope["method"]
        for path, methods, regex in self._table:
            m = regex.match(scope["path"])
            if m is None:
                continue
            if method in methods or (method == "HEAD" and "GET" in methods):
                return path, m.groupdict(), True
            if partial is None:
                partial = path
        return partial, {}, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        template, params, full = self._route(scope)
        rule = rule_for(scope["method"], template) if full and template else None
        if rule is not None and rule.kind == "public":
            await self.app(scope, receive, send)
            return
        request = _RequestFacts(scope, rule, params)
        try:
            authorization = Headers(scope=scope).get("authorization")
            if authorization is None and scope["path"].startswith("/console"):
                principal = await self._console_session(session_cookie_of(scope))
            else:
                principal = await self.access.authenticate(authorization)
        except InvalidTokenError as e:
            await self._refuse(scope, receive, send, request, None, 401, str(e))
            return
        scope.setdefault("state", {})["principal"] = principal
        if not full:  # 404 or 405 for a caller with a valid token: no patient data involved
            await self.app(scope, receive, send)
            return
        if rule is None:
            detail = f"no access policy for {scope['method']} {template}: refused"
            await self._refuse(scope, receive, send, request, principal, 403, detail)
            return
        reach = allows_route(principal, rule, request.resource_type)
        if reach is Reach.NONE:
            needed = rule.scope or f"user/{request.resource_type}.{_letter(rule.interaction)}"
            detail = f"the token's scopes do not allow this ({needed} would)"
            await self._refuse(scope, receive, send, request, principal, 403, detail, needed)
            return
        if reach is Reach.COMPARTMENT:
            outside = _named_patients(scope, params) - {principal.patient}
            if rule.interaction not in ("read", "search"):
                outside.add("(write)")
            if outside:
                detail = "outside the token's patient compartment"
                await self._refuse(scope, receive, send, request, principal, 403, detail)
                return
            await self._held_back(scope, receive, send, request, principal)
            return
        status = 500
        sent = send

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await sent(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if rule.phi:
                self._log(scope, request, principal, status)

    async def _console_session(self, cookie: str) -> Principal:
        """Who the console's session cookie stands for: an OIDC session, or a link's token.

        Raises:
            InvalidTokenError: no cookie, an ended session, a signed-out or invalid token.
        """
        if not cookie:
            raise InvalidTokenError("a bearer token is required")
        if cookie.startswith(SESSION_PREFIX):
            return self.access.sessions.principal(cookie)
        if self.access.sessions.revoked(cookie):
            raise InvalidTokenError("signed out: sign in again")
        return await self.access.authenticate(f"Bearer {cookie}")

    async def _held_back(
        self, scope: Scope, receive: Receive, send: Send, request: _RequestFacts, who: Principal
    ) -> None:
        """Runs a compartment read with its answer held until the patients it touched are known."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        touched = set(scope.get("state", {}).get("patients_touched") or ())
        if touched - {who.patient}:
            detail = "outside the token's patient compartment"
            await self._refuse(scope, receive, send, request, who, 403, detail)
            return
        for message in held:
            await send(message)
        status = next((int(m["status"]) for m in held if m["type"] == "http.response.start"), 500)
        self._log(scope, request, who, status)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: _RequestFacts,
        principal: Principal | None,
        status: int,
        detail: str,
        needed: str = "",
    ) -> None:
        response = refusal_response(scope["path"], status, detail, needed)
        self._log(scope, request, principal, status)
        await response(scope, receive, send)

    def _log(
        self, scope: Scope, request: _RequestFacts, principal: Principal | None, status: int
    ) -> None:
        sink = self.access.access_log
        if sink is None:
            return
        patients = tuple(scope.get("state", {}).get("patients_touched") or ()) or ("",)
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else ""
        at = self.access.now().isoformat()
        query = scope.get("query_string", b"").decode("latin-1")[:2000]
        sink.add(
            [
                AccessEntry(
                    at=at,
                    subject=principal.subject if principal else "",
                    client_id=principal.client_id if principal else "",
                    token_id=principal.token_id if principal else "",
                    interaction=request.interaction,
                    resource_type=request.resource_type,
                    method=scope["method"],
                    path=scope["path"][:2000],
                    query=query,
                    patient_id=patient,
                    outcome=status,
                    peer=peer,
                )
                for patient in patients
            ]
        )


class _RequestFacts:
    """What the access log says of a request's kind (from its policy row)."""

    __slots__ = ("interaction", "resource_type")

    def __init__(self, scope: Scope, rule: Rule | None, params: dict[str, Any]) -> None:
        if rule is None:
            self.interaction = scope["method"].lower()
            self.resource_type = ""
            return
        self.interaction = rule.interaction or "read"
        if rule.resource_type == FROM_PATH:
            self.resource_type = str(params.get("resource_type", ""))
        else:
            self.resource_type = rule.resource_type


def _letter(interaction: str) -> str:
    return {"read": "r", "search": "s", "create": "c", "update": "u"}.get(interaction, "cruds")


def _named_patients(scope: Scope, params: dict[str, Any]) -> set[str]:
    """The patients a request names before it runs: the Patient id, ``patient=``, ``subject=``."""
    from urllib.parse import parse_qsl

    named: set[str] = set()
    if "patient_id" in params:
        named.add(str(params["patient_id"]))
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.split(":")[0] in ("patient", "subject"):
            named.add(value.removeprefix("Patient/"))
    return named
