"""Fixtures of the FHIR write tests: a client per backend (memory is left out: writes
must meet a real store's uniqueness rules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.fhir.client import FhirClient, open_client


@pytest.fixture
def fhir(durable_store_url: str) -> Iterator[FhirClient]:
    yield from open_client(durable_store_url)
