"""docker/ stays consistent with what runs here natively (no Docker engine on CI machines)."""

from __future__ import annotations

import re
import ssl
import subprocess
from pathlib import Path

from adapters.cli import _parser
from adapters.mllp.tls import SenderBindings, client_context, server_context

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = (ROOT / "docker" / "compose.yaml").read_text()
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def test_compose_runs_the_kafka_version_the_test_services_run() -> None:
    services = (ROOT / ".ci" / "services.sh").read_text()
    native = re.search(r"KAFKA_VERSION=\$\{CARELOG_KAFKA_VERSION:-([0-9.]+)\}", services)
    assert native is not None
    assert f"image: apache/kafka:{native.group(1)}" in COMPOSE


def test_every_carelog_key_in_docker_files_is_a_setting() -> None:
    config = (ROOT / "engine" / "config.py").read_text()
    keys = set(re.findall(r"\b(CARELOG_[A-Z_]+)\b", COMPOSE + DOCKERFILE))
    assert {"CARELOG_STORE", "CARELOG_KAFKA", "CARELOG_WORKER_HEARTBEAT"} <= keys
    assert all(f'"{key}"' in config for key in keys), keys


def test_compose_commands_are_cli_subcommands() -> None:
    commands = set(re.findall(r'command: \["([a-z]+)"\]', COMPOSE))
    assert commands == {"serve", "worker"}
    for command in commands:
        _parser().parse_args([command])  # exits on an unknown subcommand


def test_image_builds_the_validator_and_runs_unprivileged() -> None:
    assert "FROM python:3.11-slim AS build" in DOCKERFILE
    assert "NativeMessageValidator(" in DOCKERFILE and "COPY schemas" in DOCKERFILE
    assert re.search(r"^USER carelog$", DOCKERFILE, re.M)
    assert "HEALTHCHECK" in DOCKERFILE and "/health" in DOCKERFILE
    assert COMPOSE.count("healthcheck:") == 3  # postgres, kafka, worker (serve: the image's)


def test_compose_and_image_open_no_plain_listener_and_require_tls_files() -> None:
    for text in (COMPOSE, DOCKERFILE):
        assert "ALLOW_PLAINTEXT" not in text
        for key in (
            "CARELOG_MLLP_TLS_CERT",
            "CARELOG_MLLP_TLS_KEY",
            "CARELOG_MLLP_TLS_CA",
            "CARELOG_MLLP_SENDERS",
            "CARELOG_HTTP_TLS_CERT",
            "CARELOG_HTTP_TLS_KEY",
        ):
            assert re.search(rf"{key}[:=] ?/etc/carelog/tls/", text), (key, text[:80])
    assert "- ./tls:/etc/carelog/tls:ro" in COMPOSE and "docker/certs.sh" in COMPOSE
    assert "https://127.0.0.1:8080/health" in DOCKERFILE and "http://" not in DOCKERFILE
    # Only carelog's own listeners are published; the stores stay on the compose network.
    published = re.findall(r'- "(\d+):(\d+)"', COMPOSE)
    assert {inner for _, inner in published} == {"2575", "8080"}
    assert "docker/tls/" in (ROOT / ".gitignore").read_text()  # keys never committed


def test_certs_script_makes_files_carelog_serves_with(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    subprocess.run(
        ["sh", str(ROOT / "docker" / "certs.sh"), "-d", str(out), "-n", "carelog.test", "lab"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = server_context(str(out / "server.pem"), str(out / "server.key"), str(out / "ca.pem"))
    client = client_context(
        str(out / "ca.pem"), str(out / "sender-lab.pem"), str(out / "sender-lab.key")
    )
    assert server.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
    bindings = SenderBindings.load(str(out / "senders.toml"))
    assert set(bindings.allowed) == {"lab"}
    assert not bindings.permits(["lab"], ("LAB", "HOSP"))  # CHANGE-ME until edited
    assert oct((out / "server.key").stat().st_mode & 0o777) == "0o600"
