"""FHIR JSON that keeps decimals exact: ``136.10`` stays ``136.10``, never a float.

FHIR decimals are JSON numbers whose precision matters (``136.10`` is not
``136.1``), and fhir.resources dumps them as floats. Resources are therefore
rendered from our own data (checked against fhir.resources in tests:
adapters.http.fhir_output), with every Decimal written as its exact text.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from fastapi.responses import JSONResponse

__all__ = [
    "FHIR_JSON",
    "DecimalFhirResponse",
    "FhirResponse",
    "dumps",
    "fhir_strings",
    "operation_outcome",
]

FHIR_JSON = "application/fhir+json"
_MARK = "\x00decimal:"
_MARKED = re.compile(r'"\\u0000decimal:(-?[0-9]+(?:\.[0-9]+)?(?:E[+-]?[0-9]+)?)\\u0000"')


# FHIR strings SHALL NOT hold characters below U+0020 other than TAB, LF and CR
# (R4 datatypes, "string"); a request's path or query echoed into a diagnostic or
# an audit entry can carry them, so each becomes U+FFFD on the way out.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _text(value: str) -> str:
    return _CONTROL.sub("\ufffd", value) if _CONTROL.search(value) else value


def fhir_strings(value: Any) -> Any:
    """``value`` with every string FHIR-safe (control characters as U+FFFD)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {k: fhir_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fhir_strings(v) for v in value]
    return value


def _marked(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Decimal):
        return f"{_MARK}{value}\x00"
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_marked(v) for v in value]
    return value


def dumps(content: Any) -> str:
    """JSON text of ``content`` with each Decimal as an exact JSON number."""
    text = json.dumps(_marked(content), separators=(",", ":"), ensure_ascii=True)
    return _MARKED.sub(lambda m: m.group(1), text)


class DecimalFhirResponse(JSONResponse):
    """An ``application/fhir+json`` response whose Decimals are exact numbers."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


class FhirResponse(JSONResponse):
    """JSON with the FHIR media type, for resources that hold no decimals."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return super().render(fhir_strings(content))


def operation_outcome(status: int, code: str, text: str) -> FhirResponse:
    """An OperationOutcome with one issue; ``code`` is from the FHIR issue-type value set."""
    return FhirResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        },
        status_code=status,
    )
