"""RFC 7807 problem details: how every error under /api answers."""

from __future__ import annotations

from http import HTTPStatus

from fastapi.responses import JSONResponse

__all__ = ["PROBLEM_JSON", "ProblemResponse", "problem"]

PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    """JSON with the problem-details media type."""

    media_type = PROBLEM_JSON


def problem(status: int, detail: str, *, title: str = "", **extra: object) -> ProblemResponse:
    """A problem document; ``title`` defaults to the status phrase (``Not Found``).

    ``extra`` members (e.g. ``invalid_params``) are added as RFC 7807 extensions.
    """
    body: dict[str, object] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return ProblemResponse(body, status_code=status)
