"""``_count`` pages with ``next``/``previous`` links on Encounter, Observation, DiagnosticReport,
ChargeItem and Account searches, on SQLite and PostgreSQL: every match served once, in the
search's order, also while results arrive between pages."""

from __future__ import annotations

from typing import Any

from tests.integration.fhir.client import FhirClient
from tests.integration.fhir.test_searches import GLUCOSE, _refused, world  # noqa: F401
from tests.messages import oru

BASE = "http://carelog.test"


def _links(body: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"].removeprefix(BASE) for link in body["link"]}


def _get(fhir: FhirClient, url: str) -> dict[str, Any]:
    response = fhir.get(url)
    assert response.status_code == 200, (url, response.text)
    body = dict(response.json())
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def _ids(body: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == mode]


def _walk(
    fhir: FhirClient, url: str, relation: str = "next", between: Any = None
) -> list[dict[str, Any]]:
    """Every page from ``url`` following ``relation`` links; ``between(n)`` after page n."""
    pages = []
    while url:
        pages.append(_get(fhir, url))
        if between is not None:
            between(len(pages))
        url = _links(pages[-1]).get(relation, "")
    return pages


def _every_page_once(fhir: FhirClient, query: str, count: int) -> list[str]:
    """Pages ``query`` forward by ``count`` then back: the same rows, each once, in order."""
    whole = _ids(_get(fhir, query))
    forward = _walk(fhir, f"{query}&_count={count}")
    assert all(p["total"] == len(whole) for p in forward), "total counts every match"
    assert all(len(_ids(p)) <= count for p in forward)
    served = [i for p in forward for i in _ids(p)]
    assert sorted(served) == sorted(whole) and len(served) == len(set(served))
    assert "previous" not in _links(forward[0])
    assert "next" not in _links(forward[-1])
    backward = _walk(fhir, _links(forward[-1]).get("previous", ""), "previous")
    assert [i for p in reversed(backward) for i in _ids(p)] == served[
        : len(served) - len(_ids(forward[-1]))
    ]
    return served


def test_every_compartment_search_pages_forward_and_back(
    fhir: FhirClient,
    world: dict[str, str],  # noqa: F811
) -> None:
    p1 = world["MRN1"]
    for query in (
        f"/fhir/Encounter?patient={p1}",
        f"/fhir/Encounter?patient={p1}&_sort=-date",
        f"/fhir/Observation?patient={p1}",
        f"/fhir/Observation?patient={p1}&_sort=date",
        f"/fhir/DiagnosticReport?patient={p1}&_sort=-date",
        f"/fhir/ChargeItem?patient={p1}",
        f"/fhir/Account?patient={p1}",
    ):
        served = _every_page_once(fhir, query, 1)
        assert len(served) >= 1, query
    dates = [
        r["resource"]["effectiveDateTime"]
        for p in _walk(fhir, f"/fhir/Observation?patient={p1}&_sort=-date&_count=2")
        for r in p["entry"]
    ]
    assert dates == sorted(dates, reverse=True)
    assert _every_page_once(fhir, f"/fhir/ChargeItem?patient={p1}", 2)  # 3 items: 2 + 1
    only = _get(fhir, f"/fhir/Observation?patient={p1}&_count=0")
    assert only["total"] == 3 and "entry" not in only


def test_include_follows_the_page(fhir: FhirClient, world: dict[str, str]) -> None:  # noqa: F811
    p1 = world["MRN1"]
    query = f"/fhir/DiagnosticReport?patient={p1}&_include=DiagnosticReport:result&_sort=date"
    first, second = _walk(fhir, f"{query}&_count=1")
    # FL1 (January) has glucose and sodium, FL2 (March) hemoglobin: each page its own results
    assert len(_ids(first, "include")) == 2 and len(_ids(second, "include")) == 1
    encounters = _get(fhir, f"/fhir/Encounter?patient={p1}&_include=Encounter:patient&_count=1")
    assert _ids(encounters, "include") == [p1]


def test_paging_while_results_arrive_has_no_duplicate_and_no_gap(
    fhir: FhirClient,
    world: dict[str, str],  # noqa: F811
) -> None:
    p1 = world["MRN1"]
    present = set(_ids(_get(fhir, f"/fhir/Observation?patient={p1}")))

    def arrive(page: int) -> None:  # results dated before, between and after those served
        for n, stamp in enumerate(("20231201", "20240201", "20250101")):
            raw = oru(f"N{page}{n}", [GLUCOSE], order=f"NEW{page}{n}").replace(
                b"20240101120000", stamp.encode() + b"120000"
            )
            assert fhir.engine.ingestion.ingest(raw, "test").ack_code == "AA"
        fhir.catch_up()

    pages = _walk(fhir, f"/fhir/Observation?patient={p1}&_sort=date&_count=1", between=arrive)
    served = [i for p in pages for i in _ids(p)]
    assert len(served) == len(set(served)), "an Observation was served twice"
    assert present <= set(served), "an Observation present from the start was skipped"
    assert len(served) > len(present)  # some arrivals sort after the page being read
    dates = [e["resource"]["effectiveDateTime"] for p in pages for e in p["entry"]]
    assert dates == sorted(dates), "pages left the sort order"


def test_bad_paging_parameters_are_refused(
    fhir: FhirClient,
    world: dict[str, str],  # noqa: F811
) -> None:
    p1 = world["MRN1"]
    for bad in ("_count=ten", "_count=-1", "_page_after=nonsense", "_page_after=a&_page_before=b"):
        _refused(fhir, f"/fhir/Observation?patient={p1}&{bad}")
        _refused(fhir, f"/fhir/Encounter?patient={p1}&{bad}")
    _refused(fhir, "/fhir/Account?identifier=ACC1&_count=x")
