"""A real FHIR client library (fhirpy) reads from a running `carelog serve`, on SQLite and
PostgreSQL: searches paged with ``fetch_all`` over several pages (no duplicate, no gap),
``_include``, ``$everything``, reads, vread and ``_history``, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from fhirpy import SyncFHIRClient

from tests.e2e.server import ServeProcess
from tests.integration.fhir import resources as r
from tests.integration.fhir.client import fhir_headers

pytestmark = [pytest.mark.e2e, pytest.mark.native]

T = TypeVar("T")
PATIENTS = 7  # with _count=2: four pages


@pytest.fixture
def server(durable_store_url: str) -> Iterator[ServeProcess]:
    proc = ServeProcess(durable_store_url).start()
    yield proc
    proc.kill()


def _until(read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """``read()`` again until ``done`` holds (read models trail the commit), at most 15 s."""
    deadline = time.monotonic() + 15
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after 15 s")
        time.sleep(0.05)


def _feed(client: SyncFHIRClient) -> tuple[str, list[str]]:
    """Seven PAGE patients created one by one, the first with a visit and a result, then
    renamed (version 2); its id and every id."""
    ids = []
    for n in range(PATIENTS):
        patient = client.resource("Patient", **r.patient(f"MRNP{n}", family="PAGE"))
        patient.save()
        ids.append(str(patient.id))
    first = ids[0]
    visit = r.bundle(
        r.entry(r.encounter("VP0", subject=f"Patient/{first}")),
        r.entry(r.observation("ORDP0", subject=f"Patient/{first}")),
    )
    answer = client.execute(client.url, method="post", data=visit)
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 2
    renamed = client.resource("Patient", id=first, **r.patient("MRNP0", "PAGE", "JOAN"))
    renamed.save()  # PUT Patient/{id}
    return first, ids


def test_fhirpy_pages_includes_reads_everything_and_history(server: ServeProcess) -> None:
    client = SyncFHIRClient(f"{server.base_url}/fhir", extra_headers=fhir_headers(server.headers))
    first, ids = _feed(client)
    pages = client.resources("Patient").search(family="page").limit(2)

    # fetch_all follows every next link; the read model trails, so ask until all are there.
    found = _until(pages.fetch_all, lambda x: len(x) == PATIENTS, "PAGE patients")
    assert sorted(str(p.id) for p in found) == sorted(ids)  # no duplicate, no gap
    assert len(pages.fetch()) == 2  # the first page alone: paging really happened

    read = _until(
        lambda: client.reference("Patient", first).to_resource(),
        lambda p: p["name"][0]["given"] == ["JOAN"],
        "the renamed patient",
    )
    assert read["meta"]["versionId"] == "2"

    visits = client.resources("Encounter").search(patient=first).include("Encounter", "patient")
    bundle = _until(visits.fetch_raw, lambda b: len(b.entry) == 2, "visit with its patient")
    modes = {e.resource.resourceType: e.search.mode for e in bundle.entry}
    assert modes == {"Encounter": "match", "Patient": "include"}
    (encounter,) = visits.fetch()
    assert encounter["subject"]["reference"] == f"Patient/{first}"

    everything = _until(
        lambda: client.reference("Patient", first).execute("$everything", method="get"),
        lambda b: len(b["entry"]) >= 4,
        "$everything",
    )
    kinds = sorted(e["resource"]["resourceType"] for e in everything["entry"])
    assert kinds == ["DiagnosticReport", "Encounter", "Observation", "Patient"]

    # vread and history through the same client: each version as it was.
    reference = client.reference("Patient", first)
    before: dict[str, Any] = reference.execute("_history/1", method="get")
    assert before["name"][0]["given"] == ["JANE"] and before["meta"]["versionId"] == "1"
    assert reference.execute("_history/2", method="get") == read
    history = reference.execute("_history", method="get", params={"_count": 1})
    assert history["type"] == "history" and history["total"] == 2
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2"]
    (after,) = [x["url"] for x in history["link"] if x["relation"] == "next"]
    rest = client.execute(after, method="get")  # absolute, on the same base
    assert [e["resource"]["meta"]["versionId"] for e in rest["entry"]] == ["1"]
    assert not [x for x in rest["link"] if x["relation"] == "next"]
    visit_history = client.reference("Encounter", encounter.id).execute("_history", method="get")
    assert visit_history["entry"][0]["resource"]["id"] == encounter.id
