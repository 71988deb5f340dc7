"""FHIR format negotiation: JSON only, ``_format`` and ``Accept`` judged alike.

carelog serves FHIR JSON and no XML (decided once, see docs/fhir-search.md):
a request under /fhir that will take only something else (``_format=xml``,
``Accept: application/fhir+xml``) is answered 406 with an OperationOutcome
(in JSON, the one format carelog writes) instead of JSON it did not ask for.
``_format`` wins over ``Accept`` when both are sent, as FHIR specifies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from adapters.http.fhir_json import operation_outcome

__all__ = ["format_refusal", "negotiate_format"]

_JSON = {
    "json",
    "application/json",
    "application/fhir+json",
    "application/json+fhir",
    "*/*",
    "application/*",
}


def _accepts_json(values: list[str]) -> bool:
    """Whether any media range (with a q above 0) is one JSON satisfies."""
    for value in values:
        for part in value.split(","):
            media, *params = (p.strip() for p in part.split(";"))
            quality = next((p[2:] for p in params if p.startswith("q=")), "1")
            try:
                acceptable = float(quality) > 0
            except ValueError:
                acceptable = True
            # an unescaped "+" in a query string reads as a space
            if acceptable and media.lower().replace(" ", "+") in _JSON:
                return True
    return False


def format_refusal(request: Request) -> Response | None:
    """The 406 for a /fhir request that wants a format other than JSON, else None."""
    if not request.url.path.startswith("/fhir"):
        return None
    formats = request.query_params.getlist("_format")
    wanted = formats or [h for h in request.headers.getlist("accept") if h.strip()]
    if not wanted or _accepts_json(wanted):
        return None
    said = f"_format={formats[0]}" if formats else f"Accept: {wanted[0]}"
    return operation_outcome(
        406,
        "not-supported",
        f"carelog serves FHIR JSON only ({said}); ask for application/fhir+json",
    )


async def negotiate_format(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """HTTP middleware: refuses unservable formats before any route runs."""
    refusal = format_refusal(request)
    return refusal if refusal is not None else await call_next(request)
