"""The FHIR write routes: ``POST /fhir`` Bundles, create, update and conditional update.

Each request is read and checked here (adapters.fhir.requests), then decided
and saved on the single writer thread with the request kept as its received
source (``Ingestion.record``); the answer is built from the committed versions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response

from adapters.fhir.errors import FhirError, outcome
from adapters.fhir.requests import (
    WRITABLE,
    Entry,
    condition_of,
    read_bundle,
    read_json,
    single_entry,
)
from adapters.fhir.writes import EntryResult, decide_entries, named_ids
from adapters.http.context import principal_of, sender_of, touched
from adapters.http.fhir_json import FHIR_JSON, DecimalFhirResponse
from adapters.security.policy import AccessRefused, authorize
from engine.application.ingestion import Ingestion, Recorded
from engine.application.sources import ReceivedSource
from engine.errors import ConcurrencyError

__all__ = ["FHIR_VERSION", "FhirWrites", "fhir_write_router", "versioned"]

FHIR_VERSION = "4.0.1"
Submit = Callable[[Callable[[], Any]], Awaitable[Any]]
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_REASONS = {200: "OK", 201: "Created"}


class FhirWrites:
    """FHIR writes through the ingestion service, run by ``submit`` (the single writer)."""

    def __init__(
        self,
        ingestion: Ingestion,
        submit: Submit,
        *,
        max_bytes: int,
        on_saved: Callable[[], None] = lambda: None,
    ) -> None:
        self.ingestion = ingestion
        self.submit = submit
        self.max_bytes = max_bytes
        self.on_saved = on_saved  # wakes the projections and the sealer

    def version_of(self, resource_id: str) -> int | None:
        """The stored version of an aggregate (the ETag of its resource), None if unknown."""
        try:
            aggregate_id = UUID(resource_id)
        except ValueError:
            return None
        last = self.ingestion.recorder.select_events(aggregate_id, desc=True, limit=1)
        return last[0].originator_version if last else None

    async def write(
        self, entries: list[Entry | FhirError], *, atomic: bool, source: ReceivedSource
    ) -> Recorded[list[EntryResult]]:
        """Decides and saves ``entries`` (one commit); raises the FhirError of a refusal."""
        decide = decide_entries(entries, atomic=atomic)
        named = named_ids(entries)
        try:
            result: Recorded[list[EntryResult]] = await self.submit(
                lambda: self.ingestion.record(source, decide, named)
            )
        except ConcurrencyError as e:  # other writers kept changing the same resources
            raise FhirError(409, "conflict", f"{e}; send it again") from e
        if result.events_written:
            self.on_saved()
        return result


def versioned(
    resource: dict[str, Any], version_of: Callable[[str], int | None] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A read resource with ``meta.versionId`` and its ``ETag`` header, when versions are known.

    The version is the store's, which a read model may trail by a moment: a
    client that sends it back in ``If-Match`` is checked against the store.
    """
    version = version_of(str(resource.get("id", ""))) if version_of is not None else None
    if version is None:
        return resource, {}
    meta = {**resource.get("meta", {}), "versionId": str(version)}
    return {**resource, "meta": meta}, {"ETag": f'W/"{version}"'}


def _error(error: FhirError) -> DecimalFhirResponse:
    return DecimalFhirResponse(outcome(error), status_code=error.status)


async def _body(request: Request, writes: FhirWrites) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in _JSON_TYPES:
        raise FhirError(415, "not-supported", f"send {FHIR_JSON}, not {kind or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > writes.max_bytes:
        raise FhirError(413, "too-costly", f"the body is larger than {writes.max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > writes.max_bytes:
            raise FhirError(413, "too-costly", f"the body is larger than {writes.max_bytes} bytes")
    return bytes(body)


def _prefer(request: Request) -> str:
    for part in request.headers.get("prefer", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "return":
            return value.strip().strip('"')
    return "representation"


def _version(recorded: Recorded[list[EntryResult]], result: EntryResult) -> int:
    aggregate = recorded.session.get(result.aggregate_id) if result.aggregate_id else None
    return int(aggregate.version) if aggregate is not None else 1


def _location(base: str, result: EntryResult, version: int) -> str:
    return f"{base}/fhir/{result.resource_type}/{result.resource_id}/_history/{version}"


def _representation(
    entry: Entry | FhirError, result: EntryResult, version: int, urls: dict[str, str]
) -> Any:
    """The resource as written, with its id and version (read models follow within a second),
    its references to the Bundle's ``urn:uuid:`` full URLs replaced by ``Type/id`` as FHIR's
    transaction rules say (a client keeps no dangling placeholder)."""
    if not isinstance(entry, Entry):
        return None
    meta = {**(entry.resource.get("meta") or {}), "versionId": str(version)}
    return _resolved({**entry.resource, "id": result.resource_id, "meta": meta}, urls)


def _resolved(value: Any, urls: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _resolved(v, urls) for k, v in value.items()}
        ref = value.get("reference")
        if isinstance(ref, str) and ref in urls:
            out["reference"] = urls[ref]
        return out
    if isinstance(value, list):
        return [_resolved(v, urls) for v in value]
    return value


def _full_urls(entries: list[Entry | FhirError], results: list[EntryResult]) -> dict[str, str]:
    """Each written entry's full URL to the ``Type/id`` it got."""
    return {
        entry.full_url: f"{result.resource_type}/{result.resource_id}"
        for entry, result in zip(entries, results, strict=True)
        if isinstance(entry, Entry) and entry.full_url and result.resource_id
    }


def _touch(request: Request, results: list[EntryResult]) -> None:
    touched(request, *(r.patient_id for r in results if r.patient_id and r.error is None))


def _authorized(request: Request, entries: list[Entry | FhirError]) -> list[Entry | FhirError]:
    """Each Bundle entry checked against the caller's scopes before any is applied.

    The route only knows "some write"; a refused entry becomes that entry's
    403, so a transaction refuses whole and a batch keeps the other entries.
    """
    principal = principal_of(request)
    checked: list[Entry | FhirError] = []
    for entry in entries:
        if isinstance(entry, Entry):
            interaction = "create" if entry.method == "POST" else "update"
            try:
                authorize(principal, entry.resource_type, interaction)
            except AccessRefused as e:
                checked.append(FhirError(e.status, "forbidden", e.detail, entry.where))
                continue
        checked.append(entry)
    return checked


def fhir_write_router(writes: FhirWrites) -> APIRouter:
    """``POST /fhir`` (Bundles), ``POST /fhir/{type}``, ``PUT /fhir/{type}/{id}`` and
    ``PUT /fhir/{type}?identifier=`` (conditional update)."""
    router = APIRouter()

    async def single(
        request: Request, method: str, kind: str, target: str = "", condition: str = ""
    ) -> Response:
        try:
            if kind not in WRITABLE:  # ChargeItem is known (read) but not mapped for writes
                status = 422 if kind == "ChargeItem" else 404
                raise FhirError(status, "not-supported", f"carelog does not accept {kind} writes")
            body = await _body(request, writes)
            if method == "POST" and request.headers.get("if-none-exist"):
                condition = condition_of(request.headers["if-none-exist"], "If-None-Exist")
            elif method == "POST" and request.url.query:  # fhirpy's get_or_create sends it so
                condition = condition_of(request.url.query, kind)
            entry = single_entry(
                method,
                kind,
                read_json(body),
                target=target,
                condition=condition,
                if_match=request.headers.get("if-match", ""),
            )
            source = ReceivedSource.of(
                body,
                kind=f"FHIR {method} {kind}",
                version=FHIR_VERSION,
                sender=sender_of(request),
                channel="fhir",
            )
            recorded = await writes.write([entry], atomic=True, source=source)
        except FhirError as e:
            return _error(e)
        result = (recorded.result or [EntryResult(0)])[0]
        _touch(request, [result])
        version = _version(recorded, result)
        base = str(request.base_url).rstrip("/")
        headers = {"ETag": f'W/"{version}"', "Location": _location(base, result, version)}
        prefer = _prefer(request)
        if prefer == "minimal":
            return Response(status_code=result.status, headers=headers)
        if prefer == "OperationOutcome":
            info = FhirError(result.status, "informational", f"{kind} {result.outcome}")
            return DecimalFhirResponse(
                outcome(info, "information"), status_code=result.status, headers=headers
            )
        body_out = _representation(entry, result, version, {})
        return DecimalFhirResponse(body_out, status_code=result.status, headers=headers)

    @router.post("/fhir")
    async def post_bundle(request: Request) -> Response:
        try:
            body = await _body(request, writes)
            kind, key, entries = read_bundle(read_json(body))
            entries = _authorized(request, entries)
            source = ReceivedSource.of(
                body,
                kind=f"FHIR {kind}",
                version=FHIR_VERSION,
                sender=sender_of(request),
                channel="fhir",
                resend_key=key,
            )
            recorded = await writes.write(entries, atomic=kind == "transaction", source=source)
        except FhirError as e:
            return _error(e)
        return _bundle_response(request, kind, entries, recorded)

    @router.post("/fhir/{resource_type}")
    async def create(request: Request, resource_type: str) -> Response:
        return await single(request, "POST", resource_type)

    @router.put("/fhir/{resource_type}/{resource_id}")
    async def update(request: Request, resource_type: str, resource_id: str) -> Response:
        return await single(request, "PUT", resource_type, target=resource_id)

    @router.put("/fhir/{resource_type}")
    async def conditional_update(request: Request, resource_type: str) -> Response:
        try:
            condition = condition_of(request.url.query, f"{resource_type}")
        except FhirError as e:
            return _error(e)
        return await single(request, "PUT", resource_type, condition=condition)

    def _bundle_response(
        request: Request,
        kind: str,
        entries: list[Entry | FhirError],
        recorded: Recorded[list[EntryResult]],
    ) -> Response:
        base = str(request.base_url).rstrip("/")
        prefer = _prefer(request)
        results = recorded.result
        if results is None:  # a resend whose entries no longer apply: it changed nothing
            results = [EntryResult(i) for i in range(len(entries))]
        _touch(request, results)
        urls = _full_urls(entries, results)
        out = []
        for entry, result in zip(entries, results, strict=True):
            if result.error is not None:
                response: dict[str, Any] = {
                    "status": f"{result.error.status}",
                    "outcome": outcome(result.error),
                }
                out.append({"response": response})
                continue
            if not result.resource_id:
                out.append({"response": {"status": "200 OK"}})
                continue
            version = _version(recorded, result)
            status = 200 if recorded.duplicate else result.status
            item: dict[str, Any] = {
                "response": {
                    "status": f"{status} {_REASONS.get(status, '')}".strip(),
                    "location": _location(base, result, version),
                    "etag": f'W/"{version}"',
                }
            }
            if prefer == "representation":
                item["resource"] = _representation(entry, result, version, urls)
            elif prefer == "OperationOutcome":  # what `carelog import --to` counts
                said = "unchanged" if recorded.duplicate else result.outcome
                info = FhirError(status, "informational", f"{result.resource_type} {said}")
                item["response"]["outcome"] = outcome(info, "information")
            out.append(item)
        bundle = {"resourceType": "Bundle", "type": f"{kind}-response", "entry": out}
        return DecimalFhirResponse(bundle, status_code=200)

    return router
