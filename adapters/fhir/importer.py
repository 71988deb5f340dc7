"""``carelog import FILE... [--to URL]``: FHIR Bundles and NDJSON through the write path.

A transaction Bundle is one atomic write; a batch Bundle one write whose
entries stand alone; a collection Bundle and NDJSON lines become batches of
conditional updates (``PUT Type?identifier=`` on the first identifier), so
loading the same data again finds every resource and changes nothing. Each
chunk is a received source keyed by its content hash: a chunk imported before
is skipped as a resend. Locally (no ``--to``) the chunks go through
``Ingestion.record`` with the same decisions as ``POST /fhir``; with ``--to``
they are POSTed to a running server.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.fhir.errors import FhirError
from adapters.fhir.requests import read_bundle, read_json
from adapters.fhir.routes import FHIR_VERSION
from adapters.fhir.writes import EntryResult, decide_entries, named_ids
from engine.application.sources import ReceivedSource

__all__ = ["Chunk", "Tally", "chunks_of", "import_files"]

CHUNK = 500  # resources per write: one commit, one received source


@dataclass
class Chunk:
    """Resources written together: ``labels`` say where each came from (file:line, entry)."""

    kind: str  # transaction | batch
    labels: list[str]
    bundle: dict[str, Any]
    raw: bytes


@dataclass
class Tally:
    """What an import came to."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.refused)

    def line(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.refused)} refused"
        )


def _upsert(resource: Any) -> dict[str, Any]:
    """A resource as a conditional update on its first identifier (a create when none)."""
    if not isinstance(resource, dict):
        return {"resource": resource, "request": {"method": "POST", "url": "Unknown"}}
    kind = str(resource.get("resourceType", ""))
    idents = [i for i in resource.get("identifier", []) or [] if isinstance(i, dict)]
    ident = next((i for i in idents if i.get("value")), None)
    if ident is None:
        return {"resource": resource, "request": {"method": "POST", "url": kind}}
    token = f"{ident['system']}|{ident['value']}" if ident.get("system") else str(ident["value"])
    return {"resource": resource, "request": {"method": "PUT", "url": f"{kind}?identifier={token}"}}


def _batches(path: Path, items: list[tuple[str, Any]]) -> Iterator[Chunk]:
    for start in range(0, len(items), CHUNK):
        part = items[start : start + CHUNK]
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [_upsert(r) for _, r in part]}
        raw = json.dumps(bundle, default=str, sort_keys=True).encode()
        yield Chunk("batch", [label for label, _ in part], bundle, raw)


def chunks_of(path: Path) -> Iterator[Chunk]:
    """The writes a file holds; an unreadable line or file is a refused item.

    Raises:
        FhirError: the file is neither a Bundle nor NDJSON.
    """
    text = path.read_bytes()
    if path.suffix in (".ndjson", ".jsonl") or not text.lstrip().startswith(b'{"'):
        items: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((f"{path}:{number}", json.loads(line, parse_float=Decimal)))
                except ValueError as e:
                    items.append((f"{path}:{number}", {"unreadable": str(e)}))
        yield from _batches(path, items)
        return
    data = read_json(text)
    if isinstance(data, dict) and "resourceType" in data and data["resourceType"] != "Bundle":
        yield from _batches(path, [(f"{path}", data)])
        return
    if not isinstance(data, dict) or data.get("type") not in ("transaction", "batch", "collection"):
        raise FhirError(400, "invalid", f"{path}: not a transaction, batch or collection Bundle")
    entries = data.get("entry") or []
    labels = [f"{path}: entry[{i}]" for i in range(len(entries))]
    if data["type"] == "collection":
        resources = [e.get("resource") if isinstance(e, dict) else e for e in entries]
        yield from _batches(path, list(zip(labels, resources, strict=True)))
        return
    yield Chunk(str(data["type"]), labels, data, text)


Write = Callable[[Chunk], list[EntryResult]]


def local_writer(ingestion: Any) -> Write:
    """Writes a chunk through ``Ingestion.record`` in this process (the POST /fhir decisions)."""

    def write(chunk: Chunk) -> list[EntryResult]:
        kind, key, entries = read_bundle(chunk.bundle)
        source = ReceivedSource.of(
            chunk.raw,
            kind=f"FHIR import {kind}",
            version=FHIR_VERSION,
            sender="carelog import",
            channel="fhir",
            resend_key=key or "import:" + hashlib.sha256(chunk.raw).hexdigest(),
        )
        try:
            decide = decide_entries(entries, atomic=kind == "transaction")
            recorded = ingestion.record(source, decide, named_ids(entries))
        except FhirError as e:
            return [EntryResult(i, error=e) for i in range(len(entries))]
        if recorded.result is None:
            return [EntryResult(i, outcome="unchanged") for i in range(len(entries))]
        if recorded.duplicate:  # imported before: what was refused still is, the rest is there
            return [
                r if r.error is not None else EntryResult(i, outcome="unchanged")
                for i, r in enumerate(recorded.result)
            ]
        return list(recorded.result)

    return write


def remote_writer(url: str, headers: dict[str, str]) -> Write:
    """POSTs each chunk to a running server's ``/fhir``."""
    import httpx

    base = url.rstrip("/")
    target = base if base.endswith("/fhir") else f"{base}/fhir"
    client = httpx.Client(timeout=120)

    def write(chunk: Chunk) -> list[EntryResult]:
        bundle = chunk.bundle
        if chunk.kind == "batch" and "identifier" not in bundle:
            digest = hashlib.sha256(chunk.raw).hexdigest()
            bundle = {**bundle, "identifier": {"system": "urn:carelog:import", "value": digest}}
        response = client.post(
            target,
            content=json.dumps(bundle, default=str).encode(),
            headers={
                "Content-Type": "application/fhir+json",
                "Prefer": "return=OperationOutcome",
                **headers,
            },
        )
        if response.status_code != 200:
            body = response.json() if response.content else {}
            issue = (body.get("issue") or [{}])[0]
            error = FhirError(
                response.status_code,
                str(issue.get("code", "exception")),
                str(issue.get("diagnostics", response.text[:200])),
                (issue.get("expression") or [""])[0],
            )
            return [EntryResult(i, error=error) for i in range(len(chunk.labels))]
        return [_remote_result(i, e) for i, e in enumerate(response.json().get("entry", []))]

    return write


def _remote_result(index: int, entry: dict[str, Any]) -> EntryResult:
    response = entry.get("response", {})
    status = int(str(response.get("status", "0")).split()[0] or 0)
    issue = ((response.get("outcome") or {}).get("issue") or [{}])[0]
    if status >= 400:
        error = FhirError(
            status,
            str(issue.get("code", "exception")),
            str(issue.get("diagnostics", "")),
            (issue.get("expression") or [""])[0],
        )
        return EntryResult(index, error=error)
    outcome = str(issue.get("diagnostics", "")).rsplit(" ", 1)[-1]
    if outcome not in ("created", "updated", "unchanged"):
        outcome = "created" if status == 201 else "updated"
    return EntryResult(index, status=status, outcome=outcome, resource_id="-")


def import_files(paths: list[Path], write: Write, progress: Callable[[int, int], None]) -> Tally:
    """Writes every file's chunks in order and counts what each resource came to."""
    tally = Tally()
    chunks: list[Chunk] = []
    for path in paths:
        try:
            chunks.extend(chunks_of(path))
        except (OSError, FhirError) as e:
            tally.refused.append(f"{path}: {getattr(e, 'text', e)}")
    total = sum(len(c.labels) for c in chunks)
    done = 0
    progress(0, total)
    for chunk in chunks:
        for label, result in zip(chunk.labels, write(chunk), strict=False):
            if result.error is not None:
                where = f" at {result.error.expression}" if result.error.expression else ""
                tally.refused.append(f"{label}: {result.error.status} {result.error.text}{where}")
            elif result.outcome == "created":
                tally.created += 1
            elif result.outcome == "updated":
                tally.updated += 1
            else:
                tally.unchanged += 1
        done += len(chunk.labels)
        progress(done, total)
    return tally


class Progress:
    """A rich progress bar on a terminal; a plain line every few seconds otherwise."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("import"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()

    def __call__(self, done: int, total: int) -> None:
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("import", total=total)
            self._bar.update(self._task, completed=done, total=total)
            return
        now = time.monotonic()
        if now - self._last >= 2.0 or done >= total:
            self._last = now
            print(f"import: {done}/{total} resources", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
