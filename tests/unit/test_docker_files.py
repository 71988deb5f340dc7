"""docker/ stays consistent with what runs here natively (no Docker engine on CI machines)."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.cli import _parser

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
