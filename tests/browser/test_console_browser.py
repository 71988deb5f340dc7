"""The console in a real browser: Debian's chromium driven by Playwright, on a real server.

Find a rejected A02 by its visit number, see the fault on PV1-19, send the A01,
reprocess the A02, and watch the patient appear on the queue board without a
reload; then call the next patient from the board and watch the waiting-room
display show the ticket, initials and room, without a reload. Each page is checked
with axe-core (vendored under tests/browser/vendor) for serious or critical
violations, and screenshotted into docs/img/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from adapters.mllp.client import MLLPClient, ack_code_of
from tests.e2e.server import ServeProcess
from tests.e2e.test_console_serve import console_link
from tests.messages import adt

pytestmark = [pytest.mark.e2e, pytest.mark.native]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(f"sqlite:///{tmp_path / 'carelog.db'}").start()
    yield proc
    proc.kill()


@pytest.fixture
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("no /usr/bin/chromium: `bash .ci/chromium.sh` installs it (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _minutes_ago(minutes: int) -> str:
    """An HL7 time (UTC) some minutes back: the screenshots show plausible waits."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y%m%d%H%M%S+0000")


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def find_by_visit(page: Any, visit: str, message_type: str) -> Any:
    """The messages page's row of ``message_type`` for ``visit``, searched until it shows.

    The log's read model trails the ACK, so the search is repeated (bounded).
    """
    page.select_option("#key_kind", "visit")
    page.fill("#key_value", visit)
    row = page.locator("table.log tbody tr", has_text=message_type)
    for _ in range(20):
        page.get_by_role("button", name="Search").click()
        try:
            row.wait_for(timeout=1_000)
            break
        except PlaywrightTimeout:
            continue
    row.wait_for(timeout=1_000)
    return row


def test_find_reprocess_and_watch_the_board(server: ServeProcess, browser: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as mllp:
        a02 = adt(
            "A02",
            "C2",
            mrn="M9",
            visit="V9",
            location="XRAY^1^A^HOSP",
            name="DOE^ANN",
            event_time=_minutes_ago(20),
        )
        assert ack_code_of(mllp.send(a02)) == "AE"

        page.goto(console_link(server))
        assert page.url.endswith("/console/messages")
        row = find_by_visit(page, "V9", "ADT^A02")
        assert serious_violations(page) == []
        page.screenshot(path=str(SHOTS / "console-messages.png"), full_page=True)

        row.get_by_role("link").click()
        fault = page.locator("tr.faulted#PV1-19")
        fault.wait_for()
        assert "Visit Number" in fault.inner_text()
        assert "PV1-19" in page.locator("ul.faults").inner_text()
        assert serious_violations(page) == []
        page.screenshot(path=str(SHOTS / "console-message.png"), full_page=True)

        board = context.new_page()
        board.goto(f"{server.base_url}/console/board/XRAY")
        assert "Nobody waits" in board.locator("#board").inner_text()
        board.evaluate("window.__notReloaded = true")
        assert serious_violations(board) == []

        assert (
            ack_code_of(
                mllp.send(
                    adt(
                        "A01",
                        "C1",
                        mrn="M9",
                        visit="V9",
                        name="DOE^ANN",
                        patient_class="E",
                        event_time=_minutes_ago(30),
                    )
                )
            )
            == "AA"
        )
    page.locator("#reprocess").click()
    page.locator("#result", has_text="AA").wait_for(timeout=10_000)
    board.locator("#board tr.waiting", has_text="DOE, ANN").wait_for(timeout=15_000)
    assert board.evaluate("window.__notReloaded === true")  # updated live, not reloaded

    errors = context.new_page()
    errors.goto(f"{server.base_url}/console/errors")
    assert "No rejected message waits" in errors.inner_text("main")
    assert serious_violations(errors) == []
    errors.screenshot(path=str(SHOTS / "console-errors.png"), full_page=True)

    # A second patient joins; the waiting-room screen follows the queue.
    with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as mllp:
        roe = adt(
            "A04",
            "C3",
            mrn="M8",
            visit="V8",
            name="ROE^BEN",
            patient_class="E",
            event_time=_minutes_ago(10),  # after A.D.'s transfer: second in line
        )
        assert ack_code_of(mllp.send(roe.replace(b"WARD1^101^A^HOSP", b"XRAY^2^A^HOSP"))) == "AA"
    board.locator("#board tr.waiting", has_text="ROE, BEN").wait_for(timeout=15_000)
    dashboard = context.new_page()
    dashboard.goto(f"{server.base_url}/console/dashboard")
    dashboard.locator('#rate-chart polyline[data-ack="AA"]').wait_for(state="attached")
    assert "Projection lag: patients_v1" in dashboard.inner_text("main")
    assert serious_violations(dashboard) == []
    dashboard.screenshot(path=str(SHOTS / "console-dashboard.png"), full_page=True)

    display = context.new_page()
    display.goto(f"{server.base_url}/console/board/XRAY?mode=display")
    display.locator("#board tr.waiting").first.wait_for()
    assert "DOE" not in display.inner_text("main") and "A.D." in display.inner_text("main")
    display.evaluate("window.__notReloaded = true")

    # Call the next patient (A.D., first in line) from the board into Room 3.
    board.fill("#call-room", "Room 3")
    board.get_by_role("button", name="Call next patient").click()
    board.locator("#call-status", has_text="to Room 3").wait_for(timeout=10_000)
    board.locator("#board tr.called", has_text="DOE, ANN").wait_for(timeout=15_000)
    # The waiting list follows over the event stream: R.B. moves up to first.
    board.locator("#board tr.waiting").first.filter(has_text="ROE, BEN").wait_for(timeout=15_000)
    assert not any(
        "DOE, ANN" in row for row in board.locator("#board tr.waiting").all_inner_texts()
    )
    assert board.evaluate("window.__notReloaded === true")
    assert serious_violations(board) == []
    board.screenshot(path=str(SHOTS / "console-board.png"), full_page=True)

    called = display.locator("#board tr.called", has_text="Room 3")
    called.wait_for(timeout=15_000)
    assert "A.D." in called.inner_text()
    assert display.evaluate("window.__notReloaded === true")  # the screen updated live
    text = display.inner_text("main")
    assert "DOE" not in text and "ROE" not in text and "B.R." in text
    assert serious_violations(display) == []
    display.screenshot(path=str(SHOTS / "console-waiting-room.png"), full_page=True)
    context.close()
