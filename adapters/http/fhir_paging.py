"""Keyset paging links for FHIR searchsets: opaque cursors, ``next`` and ``previous``.

A page is "the rows strictly after (or before) this row" in the search's
order, never "rows 40 to 60": rows that arrive while a client pages land in
their place in the order and shift no page, so paging forward (or back) never
serves a row twice and never skips one that was there. The cursor is the
(sort value, id) of the row a page starts beyond, as URL-safe base64 of JSON,
so links stay opaque and a client cannot mistake them for offsets.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import urlencode

from fastapi import Request

__all__ = [
    "AFTER",
    "BEFORE",
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "decode_cursor",
    "encode_cursor",
    "page_link",
]

AFTER = "_page_after"
BEFORE = "_page_before"
DEFAULT_COUNT = 50  # a search's page size when ``_count`` is not given
MAX_COUNT = 1000  # the largest page served, whatever ``_count`` asks


def encode_cursor(value: str, row_id: str) -> str:
    """The opaque cursor of a row whose sort value is ``value``."""
    text = json.dumps([value, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[str, str]:
    """(sort value, id) from ``encode_cursor``'s text; ValueError when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value, row_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as e:
        raise ValueError(f"{token!r} is not a page cursor this server made") from e
    if not isinstance(value, str) or not isinstance(row_id, str):
        raise ValueError(f"{token!r} is not a page cursor this server made")
    return value, row_id


def page_link(request: Request, relation: str, direction: str, cursor: str) -> dict[str, str]:
    """A Bundle link: the request's own query with the page cursor replaced."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in (AFTER, BEFORE)]
    query.append((direction, cursor))
    base = str(request.base_url).rstrip("/")
    return {"relation": relation, "url": f"{base}{request.url.path}?{urlencode(query)}"}
