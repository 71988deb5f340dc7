"""Sign-out of a sign-in link's session on a real `carelog serve`: the token in the cookie is
refused afterwards, even if the browser (or a thief) still sends it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServeProcess
from tests.e2e.test_console_serve import console_link

pytestmark = [pytest.mark.e2e, pytest.mark.native]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(f"sqlite:///{tmp_path / 'carelog.db'}").start()
    yield proc
    proc.kill()


def test_sign_out_ends_a_link_session(server: ServeProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        signin = client.get(console_link(server), follow_redirects=False)
        assert signin.status_code == 303
        token = client.cookies["carelog_console"]
        page = client.get("/console/messages")
        assert page.status_code == 200 and "Sign out" in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        assert client.post("/console/signout", data={}).status_code == 403  # no CSRF token
        out = client.post("/console/signout", data={"csrf": csrf.group(1)})
        assert out.status_code == 200 and "You are signed out" in out.text
        assert "carelog_console" not in client.cookies
    stolen = httpx.get(
        f"{server.base_url}/console/messages", cookies={"carelog_console": token}, timeout=10
    )
    assert stolen.status_code == 401 and "signed out" in stolen.text
