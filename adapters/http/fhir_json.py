"""FHIR JSON that keeps decimals exact: ``136.10`` stays ``136.10``, never a float.

FHIR decimals are JSON numbers whose precision matters (``136.10`` is not
``136.1``), and fhir.resources dumps them as floats. Resources are therefore
validated with fhir.resources but rendered from our own data, with every
Decimal written as its exact text.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["FHIR_JSON", "DecimalFhirResponse", "FhirResponse", "dumps", "operation_outcome"]

FHIR_JSON = "application/fhir+json"
_MARK = "\x00decimal:"
_MARKED = re.compile(r'"\\u0000decimal:(-?[0-9]+(?:\.[0-9]+)?(?:E[+-]?[0-9]+)?)\\u0000"')


def _marked(value: Any) -> Any:
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


def operation_outcome(status: int, code: str, text: str) -> FhirResponse:
    """An OperationOutcome with one issue; ``code`` is from the FHIR issue-type value set."""
    return FhirResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        },
        status_code=status,
    )
