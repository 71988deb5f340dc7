"""Calling the ASGI app in-process from synchronous tests.

Starlette's TestClient warns (and so fails under filterwarnings=error) with
the httpx installed here, so tests go through httpx's own ASGI transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


def request(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to ``app`` (``params``, ``json``... as for httpx)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(call())


def get(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    """``GET path`` on ``app``."""
    return request(app, "GET", path, **kwargs)
