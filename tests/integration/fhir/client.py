"""The one way the FHIR tests talk HTTP: every request goes through ``FhirClient.request``.

Every request carries a token with every scope (tests/tokens.py); the app runs
the real access layer, so FHIR writes are authorised as they are in `carelog serve`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.bootstrap import Engine, build
from adapters.fhir.routes import FhirWrites
from adapters.http.app import create_app
from adapters.writer import GroupCommitWriter
from engine.config import Settings
from tests.fakes import FakeMessageValidator
from tests.tokens import FULL_ACCESS, access

FHIR_JSON = "application/fhir+json"


def fhir_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers every FHIR test request carries: FHIR JSON and a full-access token."""
    return {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **FULL_ACCESS, **(extra or {})}


@dataclass
class FhirClient:
    """An engine with the FHIR write routes, called in-process (the app over its real store)."""

    engine: Engine
    writer: GroupCommitWriter
    app: Any = field(init=False)

    def __post_init__(self) -> None:
        writes = FhirWrites(self.engine.ingestion, self.writer.call, max_bytes=1 << 20)
        self.app = create_app(
            self.engine.views,
            health=lambda: {"ready": True},
            fhir_writes=writes,
            access=access(),
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        """One request; ``body`` is sent as JSON, ``raw`` as it is."""
        content = (
            raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        )

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
                return await c.request(method, path, content=content, headers=fhir_headers(headers))

        return asyncio.run(call())

    def post(self, path: str, body: Any, **headers: str) -> httpx.Response:
        return self.request("POST", path, body, _names(headers))

    def put(self, path: str, body: Any, **headers: str) -> httpx.Response:
        return self.request("PUT", path, body, _names(headers))

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def catch_up(self) -> None:
        """Brings the read models up to the store (projections run in-process)."""
        self.engine.runner.catch_up()


def _names(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in headers.items()}


def open_client(store_url: str) -> Iterator[FhirClient]:
    """An engine on ``store_url`` with its writer thread, closed after the test."""
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    writer = GroupCommitWriter(engine.ingestion.ingest_many)
    try:
        yield FhirClient(engine, writer)
    finally:
        writer.close()
        engine.close()
