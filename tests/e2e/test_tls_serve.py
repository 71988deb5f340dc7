"""`carelog serve` with TLS on both listeners, rate limits, and the plain-text opt-in.

Real processes and sockets: HTTPS answers with TLS 1.2+ only, `carelog send
--tls-*` is served over MLLP/TLS with a bound client certificate, a client
over its rate limit gets 429 with Retry-After, and a plain listener on a
non-loopback address refuses to start until it is opted in.
"""

from __future__ import annotations

import ssl
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from adapters.bootstrap import build
from adapters.cli import main
from engine.config import Settings
from projections.access import AccessLogView
from tests.conftest import sample
from tests.e2e.server import ServeProcess, carelog_command
from tests.fakes import FakeMessageValidator

pytestmark = [pytest.mark.e2e, pytest.mark.native]


class Files:
    def __init__(self, tmp_path: Path) -> None:
        self.ca = trustme.CA()
        self.dir = tmp_path

    def write(self, name: str, blob: trustme.Blob) -> str:
        path = self.dir / name
        blob.write_to_path(str(path))
        return str(path)

    def leaf(self, name: str, *identities: str) -> tuple[str, str]:
        cert = self.ca.issue_cert(*identities)
        return (
            self.write(f"{name}.pem", cert.cert_chain_pems[0]),
            self.write(f"{name}.key", cert.private_key_pem),
        )


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


@pytest.fixture
def tls_server(tmp_path: Path, files: Files) -> Iterator[tuple[ServeProcess, str]]:
    ca = files.write("ca.pem", files.ca.cert_pem)
    cert, key = files.leaf("server", "127.0.0.1", "localhost")
    senders = tmp_path / "senders.toml"
    senders.write_text('[senders]\n"lab.example.org" = [{ msh3 = "LAB", msh4 = "HOSP" }]\n')
    env = {
        "CARELOG_MLLP_TLS_CERT": cert,
        "CARELOG_MLLP_TLS_KEY": key,
        "CARELOG_MLLP_TLS_CA": ca,
        "CARELOG_MLLP_SENDERS": str(senders),
        "CARELOG_HTTP_TLS_CERT": cert,
        "CARELOG_HTTP_TLS_KEY": key,
        "CARELOG_HTTP_RATE_LIMIT": "5/minute",
    }
    proc = ServeProcess(f"sqlite:///{tmp_path / 'var' / 'c.db'}", env=env).start()
    yield proc, ca
    proc.kill()


def test_https_mllp_tls_and_rate_limits(
    tls_server: tuple[ServeProcess, str], files: Files, tmp_path: Path
) -> None:
    server, ca = tls_server
    url = f"https://127.0.0.1:{server.http_port}"
    with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=10) as client:
        assert client.get(f"{url}/health").status_code == 200
        # TLS 1.1 is refused by the HTTPS listener.
        old = ssl.create_default_context(cafile=ca)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(httpx.ConnectError), httpx.Client(verify=old) as legacy:
            legacy.get(f"{url}/health")

        # MLLP over TLS with a bound certificate, through the CLI.
        cert, key = files.leaf("lab", "lab.example.org")
        message = tmp_path / "a01.hl7"
        message.write_bytes(sample("adt_a01.hl7"))
        to = f"127.0.0.1:{server.mllp_port}"
        tls_args = ["--tls-ca", ca, "--tls-cert", cert, "--tls-key", key]
        assert main(["send", str(message), "--to", to, *tls_args, "--retries", "0"]) == 0
        # Without a client certificate the same message is not served.
        assert main(["send", str(message), "--to", to, "--tls-ca", ca, "--retries", "0"]) == 1
        # A certificate bound to no sender gets AR, and the refusal reaches the access log.
        other_cert, other_key = files.leaf("other", "other.example.org")
        other_args = ["--tls-ca", ca, "--tls-cert", other_cert, "--tls-key", other_key]
        assert main(["send", str(message), "--to", to, *other_args, "--retries", "0"]) == 1

        # Rate limit: 5 a minute per client; /health is exempt.
        codes = [client.get(f"{url}/fhir/metadata").status_code for _ in range(6)]
        assert codes[-1] == 429 and 429 not in codes[:4], codes
        over = client.get(f"{url}/fhir/metadata")
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        assert over.json()["resourceType"] == "OperationOutcome"
        assert client.get(f"{url}/health").status_code == 200
    assert server.events("mllp.refused") and server.events("http.rate_limited")
    assert server.stop() == 0  # SIGTERM: the access log's last batch is committed first
    engine = build(Settings(store=server.store), validator=FakeMessageValidator())
    try:
        rows = AccessLogView(engine.ingestion.recorder, engine.ingestion.mapper).rows()
    finally:
        engine.close()
    refused = [(r.subject, r.method, r.outcome) for r in rows if r.method == "MLLP"]
    assert ("other.example.org", "MLLP", 403) in refused
    assert not [r for r in rows if r.method == "MLLP" and r.subject == "lab.example.org"]


def test_a_plain_listener_off_loopback_refuses_to_start_without_opt_in(tmp_path: Path) -> None:
    cmd = [
        *carelog_command(),
        "serve",
        "--store",
        f"sqlite:///{tmp_path / 'c.db'}",
        "--mllp",
        "0.0.0.0:0",
        "--http",
        "127.0.0.1:0",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "CARELOG_MLLP_ALLOW_PLAINTEXT" in done.stderr
