"""FHIR write requests read into entries: a Bundle's, or a single create or update.

Everything that can be checked without the store is checked here, before
the write reaches the writer thread: JSON, resource types, the R4B models of
fhir.resources, request URLs, ``If-Match`` / ``If-None-Exist``. An error
names the element at fault as a FHIRPath expression.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from adapters.fhir.errors import FhirError
from adapters.http.fhir_encounter import ENCOUNTER_STATUSES

__all__ = [
    "WRITABLE",
    "Entry",
    "condition_of",
    "read_bundle",
    "read_json",
    "read_resource",
    "single_entry",
    "version_of",
]

WRITABLE = ("Patient", "Encounter", "Observation")
_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


@dataclass(frozen=True, slots=True)
class Entry:
    """One write: ``method`` POST (create) or PUT (update) of ``resource``.

    ``target`` is the id of an update by id; ``condition`` the ``identifier``
    token of a conditional update (PUT) or of ``If-None-Exist`` (POST);
    ``if_match`` the version ``If-Match`` names; ``where`` the FHIRPath of the
    resource (``Bundle.entry[2].resource`` or ``Patient``).
    """

    index: int
    method: str
    resource_type: str
    resource: dict[str, Any]
    where: str
    full_url: str = ""
    target: str = ""
    condition: str = ""
    if_match: int | None = None


def read_json(body: bytes) -> Any:
    """The request body as JSON, decimals kept exact.

    Raises:
        FhirError: 400, not JSON.
    """
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as e:
        raise FhirError(400, "structure", f"the body is not JSON: {e}") from e


def version_of(etag: str, where: str = "") -> int:
    """The version an ETag names (``W/"3"``)."""
    m = _ETAG.match(etag.strip())
    if not m:
        raise FhirError(400, "value", f'If-Match must be an ETag such as W/"3": {etag!r}', where)
    return int(m.group(1))


def condition_of(query: str, where: str) -> str:
    """The identifier token of a search URL's query (only ``identifier`` is supported)."""
    params = parse_qsl(query, keep_blank_values=True)
    names = sorted({name for name, _ in params})
    if names != ["identifier"] or len(params) != 1 or not params[0][1]:
        raise FhirError(
            400,
            "not-supported",
            f"conditional operations take one identifier=[system|]value, got {query!r}",
            where,
        )
    return params[0][1]


def read_resource(data: Any, where: str, expected: str = "") -> dict[str, Any]:
    """``data`` checked against the R4B model of its type; 400 naming the faulty element."""
    if not isinstance(data, dict) or "resourceType" not in data:
        raise FhirError(400, "structure", "a resource (with resourceType) is required", where)
    kind = str(data["resourceType"])
    if expected and kind != expected:
        raise FhirError(400, "invalid", f"expected a {expected}, got a {kind}", where)
    if kind not in WRITABLE:
        raise FhirError(
            422 if kind in ("ChargeItem",) else 400,
            "not-supported",
            f"carelog does not accept {kind} writes (only {', '.join(WRITABLE)})",
            f"{where}.resourceType" if where else "resourceType",
        )
    prefix = where or kind
    try:
        get_fhir_model_class(kind).model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise FhirError(400, "invalid", first["msg"], _path(prefix, first["loc"])) from e
    if kind == "Encounter" and data.get("status") not in ENCOUNTER_STATUSES:
        text = f"Encounter.status {data.get('status')!r} is not an EncounterStatus code"
        raise FhirError(400, "code-invalid", text, f"{prefix}.status")
    return data


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("__root__",):
            out += f".{part}"
    return out


def single_entry(
    method: str,
    resource_type: str,
    data: Any,
    *,
    target: str = "",
    condition: str = "",
    if_match: str = "",
) -> Entry:
    """A ``POST /fhir/{type}`` or ``PUT /fhir/{type}[/{id}]`` as an entry."""
    resource = read_resource(data, "", resource_type)
    if target and resource.get("id") not in (None, target):
        raise FhirError(
            400,
            "invalid",
            f"the resource id {resource.get('id')!r} is not {target!r}",
            f"{resource_type}.id",
        )
    return Entry(
        index=0,
        method=method,
        resource_type=resource_type,
        resource=resource,
        where=resource_type,
        target=target,
        condition=condition,
        if_match=version_of(if_match) if if_match else None,
    )


def read_bundle(data: Any) -> tuple[str, str, list[Entry | FhirError]]:
    """(type, identifier key, entries) of a transaction or batch Bundle; an entry
    that cannot be read (no request, a method other than POST/PUT, a bad URL or
    resource) is its error, which fails a transaction and only that entry of a batch.

    Raises:
        FhirError: 400 for a Bundle that is neither.
    """
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirError(400, "invalid", "POST /fhir takes a Bundle", "Bundle")
    kind = data.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(
            400, "invalid", f"Bundle.type must be transaction or batch, not {kind!r}", "Bundle.type"
        )
    ident = data.get("identifier") or {}
    key = f"{ident.get('system', '')}|{ident.get('value', '')}" if ident.get("value") else ""
    raw_entries = data.get("entry") or []
    if not isinstance(raw_entries, list):
        raise FhirError(400, "structure", "Bundle.entry must be a list", "Bundle.entry")
    entries: list[Entry | FhirError] = []
    for index, entry in enumerate(raw_entries):
        try:
            entries.append(_bundle_entry(index, entry))
        except FhirError as e:
            entries.append(e)
    return str(kind), key, entries


def _bundle_entry(index: int, entry: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise FhirError(400, "structure", "an entry must be an object", where)
    request = entry.get("request") or {}
    method = str(request.get("method", "")).upper()
    url = str(request.get("url", ""))
    if method not in ("POST", "PUT"):
        raise FhirError(
            400,
            "not-supported",
            f"entry method {method or '(none)'} is not supported (POST or PUT)",
            f"{where}.request.method",
        )
    resource = read_resource(entry.get("resource"), f"{where}.resource")
    kind = resource["resourceType"]
    path, _, query = url.partition("?")
    parts = path.strip("/").split("/")
    if parts[0] != kind or len(parts) > 2 or (method == "POST" and len(parts) != 1):
        raise FhirError(
            400,
            "invalid",
            f"entry url {url!r} does not fit a {method} of a {kind}",
            f"{where}.request.url",
        )
    target = parts[1] if len(parts) == 2 else ""
    condition = ""
    if method == "PUT" and not target:
        condition = condition_of(query, f"{where}.request.url")
    if method == "POST" and request.get("ifNoneExist"):
        condition = condition_of(str(request["ifNoneExist"]), f"{where}.request.ifNoneExist")
    if_match = request.get("ifMatch")
    return Entry(
        index=index,
        method=method,
        resource_type=kind,
        resource=resource,
        where=f"{where}.resource",
        full_url=str(entry.get("fullUrl", "")),
        target=target,
        condition=condition,
        if_match=version_of(str(if_match), f"{where}.request.ifMatch") if if_match else None,
    )
