"""Calling the ASGI app in-process from synchronous tests.

Starlette's TestClient warns (and so fails under filterwarnings=error) with
the httpx installed here, so tests go through httpx's own ASGI transport.
Requests carry a full-access bearer token (tests/tokens.py) unless they
pass their own ``Authorization`` header or ``auth=False``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.tokens import FULL_ACCESS


def request(
    app: Any, method: str, path: str, *, auth: bool = True, **kwargs: Any
) -> httpx.Response:
    """One request to ``app`` (``params``, ``json``... as for httpx)."""
    headers = dict(kwargs.pop("headers", None) or {})
    if auth and not any(k.lower() == "authorization" for k in headers):
        headers.update(FULL_ACCESS)
    kwargs["headers"] = headers

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(call())


def get(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    """``GET path`` on ``app``."""
    return request(app, "GET", path, **kwargs)
