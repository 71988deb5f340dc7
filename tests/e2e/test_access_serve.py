"""`carelog serve` with its embedded issuer, as a user runs it: `carelog token` mints a token,
curl-like requests use it, the access log is committed through the writer and flushed on
SIGTERM, and `carelog verify` covers it. A non-loopback address without the opt-in is refused."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from adapters.bootstrap import build
from adapters.mllp.client import MLLPClient, ack_code_of
from engine.config import Settings
from projections.access import AccessLogView
from tests.e2e.server import ServeProcess, carelog_command, run_carelog
from tests.fakes import FakeMessageValidator
from tests.messages import adt

pytestmark = [pytest.mark.e2e, pytest.mark.native]


def carelog(
    *args: str, store: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_carelog(*args, store=store, env=extra_env, timeout=60)


def test_a_token_from_carelog_token_reads_and_every_read_is_in_the_access_log(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    server = ServeProcess(store).start()
    try:
        key = tmp_path / "carelog-issuer.pem"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600  # created on first use, owner only
        with MLLPClient("127.0.0.1", server.mllp_port, timeout_s=10) as client:
            assert ack_code_of(client.send(adt("A01", "E1", mrn="E2E1"))) == "AA"
        minted = carelog("token", "--scope", "user/Patient.rs", "--sub", "dr-e2e", store=store)
        assert minted.returncode == 0, minted.stderr
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        url = f"{server.base_url}/fhir/Patient"
        assert httpx.get(url, params={"identifier": "HOSP|E2E1"}).status_code == 401
        found = {}
        for _ in range(100):  # the projection follows the commit within a few rounds
            found = httpx.get(url, params={"identifier": "HOSP|E2E1"}, headers=headers).json()
            if found.get("total"):
                break
        assert found["total"] == 1
        patient_id = found["entry"][0]["resource"]["id"]
        assert httpx.get(f"{server.base_url}/metrics", headers=headers).status_code == 403
    finally:
        assert server.stop() == 0  # SIGTERM: the access log's last batch is committed first
    engine = build(Settings(store=store), validator=FakeMessageValidator())
    try:
        rows = AccessLogView(engine.ingestion.recorder, engine.ingestion.mapper).rows()
        mine = [(r.subject, r.outcome, r.patient_id) for r in rows if r.subject == "dr-e2e"]
        assert (("dr-e2e", 200, patient_id) in mine) and (("dr-e2e", 403, "") in mine)
        assert ("", 401, "") in [(r.subject, r.outcome, r.patient_id) for r in rows]
    finally:
        engine.close()
    verified = carelog("verify", "--store", store, store=store)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_carelog_token_refuses_with_an_external_issuer_and_bad_ttls(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    idp = {"CARELOG_AUTH_ISSUER": "https://idp.hospital.example"}
    external = carelog("token", "--scope", "user/*.rs", store=store, extra_env=idp)
    assert external.returncode == 2 and "external token issuer" in external.stderr
    assert not (tmp_path / "carelog-issuer.pem").exists()
    too_long = carelog("token", "--scope", "user/*.rs", "--ttl", "90d", store=store)
    assert too_long.returncode == 2 and "--ttl" in too_long.stderr


def test_the_embedded_issuer_refuses_a_non_loopback_address_without_the_opt_in(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'carelog.db'}"
    server = ServeProcess(store)
    server.env["CARELOG_HTTP"] = "0.0.0.0:0"
    server.env["CARELOG_HTTP_ALLOW_PLAINTEXT"] = "true"  # past the TLS check: the issuer's own
    cmd = [
        *carelog_command(),
        "serve",
        "--store",
        store,
        "--mllp",
        "127.0.0.1:0",
        "--http",
        "0.0.0.0:0",
    ]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=server.env, timeout=60)
    assert refused.returncode == 2
    assert "CARELOG_AUTH_EMBEDDED_ANY_ADDRESS" in refused.stderr
