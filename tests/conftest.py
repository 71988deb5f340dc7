"""Shared fixtures: a clean environment for every test, sample messages, stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# Keys a developer's shell may carry that would change what a test runs against.
_LEAKY_PREFIXES = ("CARELOG_", "PERSISTENCE_MODULE", "SQLITE_", "POSTGRES_")
_KEEP = ("CARELOG_TEST_",)  # make test passes the service addresses through these


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Removes carelog and eventsourcing settings from the environment for each test."""
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES) and not key.startswith(_KEEP):
            monkeypatch.delenv(key)
    yield


def sample(name: str) -> bytes:
    """A message from tests/data/hl7."""
    return (DATA / "hl7" / name).read_bytes()


@pytest.fixture
def adt_a01() -> bytes:
    return sample("adt_a01.hl7")
