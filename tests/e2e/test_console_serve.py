"""The console on a real `carelog serve`: sign-in link, search, fault, reprocess, board, CSRF."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.mllp.client import MLLPClient, ack_code_of
from tests.e2e.server import ServeProcess, carelog_command
from tests.messages import adt

pytestmark = [pytest.mark.e2e, pytest.mark.native]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(f"sqlite:///{tmp_path / 'carelog.db'}").start()
    yield proc
    proc.kill()


def console_link(server: ServeProcess, subject: str = "nurse.jo") -> str:
    """`carelog console-link` as an operator runs it, against the server's store."""
    out = subprocess.run(
        [
            *carelog_command(),
            "console-link",
            "--sub",
            subject,
            "--store",
            server.store,
            "--base",
            server.base_url,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    link = out.stdout.strip()
    assert link.startswith(f"{server.base_url}/console/signin?code=")
    return link


def until(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """A bounded wait on an observable condition (the read models trail the ACK)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _entry_found(client: httpx.Client, visit: str) -> str:
    """The id of the first message listed for ``visit``, ``""`` while there is none."""
    r = client.get("/console/messages", params={"key_kind": "visit", "key_value": visit})
    assert r.status_code == 200
    found = re.search(r'href="/console/messages/([0-9a-f-]{36})"', r.text)
    return found.group(1) if found else ""


def test_find_fix_and_reprocess_a_rejected_a02(server: ServeProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        _find_fix_and_reprocess(server, client)


def _find_fix_and_reprocess(server: ServeProcess, client: httpx.Client) -> None:
    assert httpx.get(f"{server.base_url}/console/messages").status_code == 401
    link = console_link(server)
    signin = client.get(link, follow_redirects=False)
    assert signin.status_code == 303 and signin.headers["location"] == "/console/messages"
    cookie = signin.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert "secure" not in cookie  # plain HTTP here; under TLS the cookie is Secure
    again = httpx.get(link)
    assert again.status_code == 401 and "used already" in again.text  # one-time

    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as mllp:
        a02 = adt("A02", "C2", mrn="M9", visit="V9", location="XRAY^1^A^HOSP", name="DOE^ANN")
        assert ack_code_of(mllp.send(a02)) == "AE"

        entry_id = until(lambda: _entry_found(client, "V9"))
        assert entry_id, "the rejected A02 never showed in the message log"
        message = client.get(f"/console/messages/{entry_id}")
        assert message.status_code == 200
        assert 'id="PV1-19"' in message.text and 'class="faulted"' in message.text
        assert "Visit Number" in message.text  # HL7 names from hl7apy

        found = re.search(r"name=\"csrf\" value=\"([0-9a-f]+)\"", message.text)
        assert found, message.text[-3000:]
        csrf = found.group(1)
        url = f"/console/messages/{entry_id}/reprocess"
        assert client.post(url, data={"csrf": "forged"}).status_code == 403
        assert client.post(url, data={}).status_code == 403
        still = client.post(url, data={"csrf": csrf})
        assert still.status_code == 200 and "AE" in still.text

        assert (
            ack_code_of(
                mllp.send(adt("A01", "C1", mrn="M9", visit="V9", name="DOE^ANN", patient_class="E"))
            )
            == "AA"
        )
    done = client.post(url, data={"csrf": csrf})
    assert done.status_code == 200 and "AA" in done.text
    board = until(lambda: "DOE, ANN" in (r := client.get("/console/board/XRAY")).text and r)
    assert board, "the reprocessed transfer never reached the XRAY board"
    display = client.get("/console/board/XRAY", params={"mode": "display"})
    assert "DOE" not in display.text and "A.D." in display.text  # initials only
    errors = client.get("/console/errors")
    assert errors.status_code == 200 and "No rejected message waits" in errors.text


def test_console_pages_need_the_operator_scope(server: ServeProcess) -> None:
    from tests.tokens import bearer_for_store

    reader = bearer_for_store(server.store, scopes="user/*.rs")
    r = httpx.get(f"{server.base_url}/console/messages", headers=reader)
    assert r.status_code == 403
    operator = bearer_for_store(server.store, scopes="carelog/operator")
    assert httpx.get(f"{server.base_url}/console/errors", headers=operator).status_code == 200
    signin_token = httpx.get(f"{server.base_url}/console/signin", params={"code": "x"})
    assert signin_token.status_code == 401
