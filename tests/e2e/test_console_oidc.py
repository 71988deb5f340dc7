"""Console sign-in through an external OpenID Connect provider, on a real `carelog serve`.

The provider (tests/oidc_issuer.py) runs under uvicorn on 127.0.0.1; carelog
discovers it, sends the browser (here httpx) there with a PKCE challenge,
and redeems the code. Every refused case ends on an error page without a
session cookie, and the console stays closed.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import ServeProcess
from tests.oidc_issuer import OidcProvider

pytestmark = [pytest.mark.e2e, pytest.mark.native]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    issuer = OidcProvider(users={"ops-1": "carelog/operator", "clerk-2": "user/Patient.rs"})
    issuer.start()
    yield issuer
    issuer.stop()


def oidc_env(provider: OidcProvider, port: int) -> dict[str, str]:
    redirect = f"http://127.0.0.1:{port}/console/oidc/callback"
    provider.redirect_uris = [redirect]
    return {
        "CARELOG_AUTH_ISSUER": provider.url,
        "CARELOG_CONSOLE_OIDC_CLIENT_ID": provider.client_id,
        "CARELOG_CONSOLE_OIDC_REDIRECT_URL": redirect,
    }


@pytest.fixture(scope="module")
def server(
    provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    store = f"sqlite:///{tmp_path_factory.mktemp('oidc') / 'carelog.db'}"
    port = free_port()
    proc = ServeProcess(store, env=oidc_env(provider, port), http_port=port).start()
    yield proc
    proc.kill()


_OPEN: list[httpx.Client] = []


def new_client() -> httpx.Client:
    """A browser stand-in with its own cookie jar (closed after each test)."""
    client = httpx.Client(timeout=30)
    _OPEN.append(client)
    return client


@pytest.fixture(autouse=True)
def honest(provider: OidcProvider) -> Iterator[None]:
    provider.tamper = ""
    provider.roles_claim = False
    yield
    provider.tamper = ""
    provider.roles_claim = False
    while _OPEN:
        _OPEN.pop().close()


def start(client: httpx.Client, server: ServeProcess) -> str:
    """Follows the console's start to the provider's login page; the page's authorize URL."""
    answer = client.get(f"{server.base_url}/console/oidc/start")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert "code_challenge_method=S256" in location and "code_challenge=" in location
    assert "nonce=" in location and "state=" in location
    cookie = answer.headers["set-cookie"].lower()
    assert "carelog_oidc_state=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    return location


def login(client: httpx.Client, authorize_url: str, user: str = "ops-1") -> str:
    """Signs in at the provider as ``user``; the callback URL it redirects to."""
    page = client.get(authorize_url)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    fields["user"] = user
    answer = client.post(authorize_url.split("?")[0], data=fields)
    assert answer.status_code == 302
    return str(answer.headers["location"])


def sign_in(server: ServeProcess, user: str = "ops-1") -> tuple[httpx.Client, httpx.Response]:
    client = new_client()
    callback = login(client, start(client, server), user)
    return client, client.get(callback)


def test_code_flow_with_pkce_opens_a_session_and_sign_out_ends_it(
    server: ServeProcess, provider: OidcProvider
) -> None:
    page = httpx.get(f"{server.base_url}/console/signin")
    assert page.status_code == 200 and "/console/oidc/start" in page.text

    client, answer = sign_in(server)
    assert answer.status_code == 200, answer.text
    assert 'http-equiv="refresh"' in answer.text and "/console/messages" in answer.text
    cookie = next(
        h for h in answer.headers.get_list("set-cookie") if h.startswith("carelog_console=")
    )
    assert cookie.startswith("carelog_console=cs.")  # opaque: no token in the browser
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/console" in lowered
    assert "secure" not in lowered  # plain HTTP on loopback here; Secure under TLS

    messages = client.get(f"{server.base_url}/console/messages")
    assert messages.status_code == 200
    assert "Signed in as ops-1" in messages.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', messages.text)
    assert csrf is not None

    assert provider.redeemed[-1] == "ops-1"  # the provider saw the code redeemed

    refused = client.post(f"{server.base_url}/console/signout", data={"csrf": "wrong"})
    assert refused.status_code == 403
    out = client.post(f"{server.base_url}/console/signout", data={"csrf": csrf.group(1)})
    assert out.status_code == 200 and "You are signed out" in out.text
    session = cookie.split(";")[0].split("=", 1)[1]
    again = httpx.get(f"{server.base_url}/console/messages", cookies={"carelog_console": session})
    assert again.status_code == 401  # the session is gone, not only the cookie


def test_roles_in_the_id_token_grant_the_operator_scope(
    server: ServeProcess, provider: OidcProvider
) -> None:
    provider.roles_claim = True
    client, answer = sign_in(server)
    assert answer.status_code == 200
    assert client.get(f"{server.base_url}/console/messages").status_code == 200


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("nonce", "nonce does not match"),
        ("expired", "the token has expired"),
        ("forged", "the token is not valid"),
        ("audience", "another audience"),
    ],
)
def test_a_wrong_id_token_opens_no_session(
    server: ServeProcess, provider: OidcProvider, tamper: str, reason: str
) -> None:
    provider.tamper = tamper
    client, answer = sign_in(server)
    assert answer.status_code == 401
    assert reason in answer.text
    assert "carelog_console=" not in answer.headers.get("set-cookie", "")
    assert client.get(f"{server.base_url}/console/messages").status_code == 401


def test_an_account_without_the_operator_scope_opens_no_session(server: ServeProcess) -> None:
    client, answer = sign_in(server, "clerk-2")
    assert answer.status_code == 403
    assert "not granted carelog/operator" in answer.text
    assert "carelog_console=" not in answer.headers.get("set-cookie", "")
    assert client.get(f"{server.base_url}/console/messages").status_code == 401


def test_a_wrong_or_replayed_state_opens_no_session(server: ServeProcess) -> None:
    client = new_client()
    callback = login(client, start(client, server))
    forged = re.sub(r"state=[^&]+", "state=someone-elses", callback)
    answer = client.get(forged)
    assert answer.status_code == 400 and "unknown or expired sign-in state" in answer.text

    # A callback link from another browser (its state is not this browser's cookie).
    victim = new_client()
    attacker = new_client()
    start(victim, server)
    link = login(attacker, start(attacker, server))
    answer = victim.get(link)
    assert answer.status_code == 400 and "does not belong to this browser" in answer.text
    assert victim.get(f"{server.base_url}/console/messages").status_code == 401

    # The state is taken once: the honest callback, replayed, is refused.
    client = new_client()
    callback = login(client, start(client, server))
    assert client.get(callback).status_code == 200
    assert client.get(callback).status_code == 400


def test_a_code_redeemed_with_another_flows_verifier_is_refused(server: ServeProcess) -> None:
    """Code injection: a stolen code sent back with the victim's own state fails PKCE."""
    victim = new_client()
    thief = new_client()
    victim_callback = login(victim, start(victim, server))
    thief_callback = login(thief, start(thief, server))
    victim_state = re.search(r"state=([^&]+)", victim_callback)
    thief_code = re.search(r"code=([^&]+)", thief_callback)
    assert victim_state is not None and thief_code is not None
    base = victim_callback.split("?")[0]
    answer = victim.get(f"{base}?code={thief_code.group(1)}&state={victim_state.group(1)}")
    assert answer.status_code == 401
    assert "refused the code: invalid_grant" in answer.text
    assert victim.get(f"{server.base_url}/console/messages").status_code == 401


def test_the_provider_refusing_is_a_clear_page(server: ServeProcess) -> None:
    client = new_client()
    location = start(client, server)
    state = re.search(r"state=([^&]+)", location)
    assert state is not None
    answer = client.get(
        f"{server.base_url}/console/oidc/callback?error=access_denied&state={state.group(1)}"
    )
    assert answer.status_code == 401 and "refused the sign-in: access_denied" in answer.text


def test_oidc_settings_are_checked() -> None:
    from engine.config import Settings
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="needs CARELOG_AUTH_ISSUER"):
        Settings.from_env({"CARELOG_CONSOLE_OIDC_CLIENT_ID": "c"})
    with pytest.raises(ConfigError, match="REDIRECT_URL"):
        Settings.from_env(
            {"CARELOG_AUTH_ISSUER": "https://idp", "CARELOG_CONSOLE_OIDC_CLIENT_ID": "c"}
        )
    ok = Settings.from_env(
        {
            "CARELOG_AUTH_ISSUER": "https://idp",
            "CARELOG_CONSOLE_OIDC_CLIENT_ID": "c",
            "CARELOG_CONSOLE_OIDC_REDIRECT_URL": "https://h/console/oidc/callback",
        }
    )
    assert ok.console_oidc_scopes == "openid carelog/operator"
