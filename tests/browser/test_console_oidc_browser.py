"""OpenID Connect sign-in and saved filters in a real browser (Debian's chromium, Playwright).

carelog serve is configured with an external issuer: the test provider of
tests/oidc_issuer.py under uvicorn. The browser follows the whole code flow
(console, provider's login page, callback, messages), saves a search by a
visit number under a name, finds it again from the list, and signs out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mllp.client import MLLPClient, ack_code_of
from tests.browser.test_console_browser import SHOTS, browser, find_by_visit, serious_violations
from tests.e2e.server import ServeProcess
from tests.e2e.test_console_oidc import free_port, oidc_env
from tests.messages import adt
from tests.oidc_issuer import OidcProvider

pytestmark = [pytest.mark.e2e, pytest.mark.native]
__all__ = ["browser"]  # the fixture, shared with the console's main browser test


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    issuer = OidcProvider(users={"ops-1": "carelog/operator"}).start()
    yield issuer
    issuer.stop()


@pytest.fixture
def server(provider: OidcProvider, tmp_path: Path) -> Iterator[ServeProcess]:
    port = free_port()
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    proc = ServeProcess(store, env=oidc_env(provider, port), http_port=port).start()
    yield proc
    proc.kill()


def test_oidc_sign_in_saved_filter_and_sign_out(
    server: ServeProcess, provider: OidcProvider, browser: Any
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as mllp:
        a02 = adt("A02", "S2", mrn="M77", visit="V77", location="XRAY^1^A^HOSP")
        assert ack_code_of(mllp.send(a02)) == "AE"

    page.goto(f"{server.base_url}/console/signin")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Sign in with your organisation's account").click()
    assert page.url.startswith(provider.url + "/authorize")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as ops-1").wait_for(timeout=10_000)
    assert page.url.endswith("/console/messages")
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["carelog_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the session

    find_by_visit(page, "V77", "ADT^A02")
    page.get_by_label("Save this search as").fill("Visit 77 transfers")
    page.get_by_role("button", name="Save filter").click()
    page.get_by_role("link", name="Visit 77 transfers").wait_for(timeout=10_000)

    page.goto(f"{server.base_url}/console/messages")  # a fresh page: the filter is stored
    page.get_by_role("link", name="Visit 77 transfers").click()
    page.locator("table.log tbody tr", has_text="ADT^A02").wait_for(timeout=10_000)
    assert page.input_value("#key_value") == "V77"
    page.get_by_role("link", name="Visit 77 transfers").wait_for()
    assert serious_violations(page) == []
    page.screenshot(path=str(SHOTS / "console-saved-filters.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for(timeout=10_000)
    assert "carelog_console" not in {c["name"] for c in context.cookies()}
    answer = page.goto(f"{server.base_url}/console/messages")
    assert answer is not None and answer.status == 401
    context.close()
