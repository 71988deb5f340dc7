"""Patient ``_sort``, ``_lastUpdated``, ``previous`` links and ``_revinclude``, on SQLite and
PostgreSQL: keyset pages in the sort's order stay stable while patients arrive, forward and
backward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient
from tests.integration.fhir.test_patient_search import _mrns, _search, _seed

BASE = "http://carelog.test"


def _order(fhir: FhirClient, query: str) -> list[str]:
    return [e["resource"]["identifier"][0]["value"] for e in _search(fhir, query)["entry"]]


def test_sort_by_family_birthdate_and_last_updated_both_ways(fhir: FhirClient) -> None:
    _seed(fhir, {"S1": ("Young", "A", "2001-01-01", "male")})
    _seed(fhir, {"S2": ("Abel", "B", "1950-05-05", "female")})
    _seed(fhir, {"S3": ("martin", "C", "1975-03-03", "male")})
    assert _order(fhir, "_sort=family") == ["S2", "S3", "S1"]  # case-insensitive
    assert _order(fhir, "_sort=-family") == ["S1", "S3", "S2"]
    assert _order(fhir, "_sort=birthdate") == ["S2", "S3", "S1"]
    assert _order(fhir, "_sort=-birthdate") == ["S1", "S3", "S2"]
    assert _order(fhir, "_sort=_lastUpdated") == ["S1", "S2", "S3"]  # seeded in that order
    assert _order(fhir, "_sort=-_lastUpdated") == ["S3", "S2", "S1"]
    assert _order(fhir, "_sort=family&gender=male") == ["S3", "S1"]


def test_last_updated_prefixes_dates_and_instants(fhir: FhirClient) -> None:
    _seed(fhir)
    everyone = ["M1", "M2", "M3"]
    today = datetime.now(UTC).date()
    assert _mrns(fhir, f"_lastUpdated={today.isoformat()}") == everyone
    assert _mrns(fhir, f"_lastUpdated=ge{today.isoformat()}") == everyone
    assert _mrns(fhir, f"_lastUpdated=lt{today.isoformat()}") == []
    assert _mrns(fhir, f"_lastUpdated=gt{today.year}") == []
    assert _mrns(fhir, f"_lastUpdated=le{today.year}") == everyone
    assert _mrns(fhir, f"_lastUpdated=ne{today.isoformat()}") == []
    one = _search(fhir, "identifier=M2")["entry"][0]["resource"]["meta"]["lastUpdated"]
    stamp = datetime.fromisoformat(one).astimezone(UTC).replace(microsecond=0)
    text = quote(stamp.isoformat())
    assert "M2" in _mrns(fhir, f"_lastUpdated=eq{text}")
    later = quote((stamp + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "M2" in _mrns(fhir, f"_lastUpdated=lt{later}")
    assert "M2" not in _mrns(fhir, f"_lastUpdated=ge{later}")
    local = quote((stamp + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"))
    assert "M2" in _mrns(fhir, f"_lastUpdated=eq{local}")  # the same second, at +02:00


def _links(body: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"].removeprefix(BASE) for link in body["link"]}


def _walk(fhir: FhirClient, url: str, relation: str, between: Any) -> list[list[str]]:
    pages = []
    while url:
        body = fhir.get(url).json()
        assert body["resourceType"] == "Bundle", body
        pages.append([e["resource"]["identifier"][0]["value"] for e in body.get("entry", [])])
        between(len(pages))
        url = _links(body).get(relation, "")
    return pages


def test_previous_and_next_links_page_the_same_rows_in_the_sort_order(fhir: FhirClient) -> None:
    people = {f"Q{n}": (f"PAGE{9 - n}", "Ann", f"19{50 + n}-01-01", "female") for n in range(7)}
    _seed(fhir, people)
    first = _search(fhir, "family=page&_sort=-birthdate&_count=3")
    assert "previous" not in _links(first)
    forward = _walk(fhir, _links(first)["self"].removeprefix(BASE), "next", lambda _: None)
    assert forward == [["Q6", "Q5", "Q4"], ["Q3", "Q2", "Q1"], ["Q0"]]
    last = fhir.get(_links(fhir.get(_links(first)["next"]).json())["next"]).json()
    assert "next" not in _links(last)
    backward = _walk(fhir, _links(last)["previous"], "previous", lambda _: None)
    assert backward == [["Q3", "Q2", "Q1"], ["Q6", "Q5", "Q4"]]
    one = _walk(fhir, "/fhir/Patient?family=page&_sort=family&_count=1", "next", lambda _: None)
    assert one == [[f"Q{n}"] for n in range(6, -1, -1)]  # Q6 is PAGE3, Q0 PAGE9


def test_paging_forward_and_back_while_patients_arrive_has_no_duplicate_and_no_gap(
    fhir: FhirClient,
) -> None:
    first = {f"P{n}": (f"WAVE{n}", "Ann", "1970-01-01", "female") for n in range(8)}
    _seed(fhir, first)

    def arrive(page: int) -> None:  # new names sort before, between and after the others
        _seed(
            fhir, {f"N{page}{k}": (f"WAVE{k}{page}", "Bo", "1971-01-01", "male") for k in (0, 4, 9)}
        )

    forward = _walk(fhir, "/fhir/Patient?family=wave&_sort=family&_count=3", "next", arrive)
    seen = [m for page in forward for m in page]
    assert len(seen) == len(set(seen)), "a patient was served twice going forward"
    assert set(first) <= set(seen), "a patient present from the start was skipped going forward"
    assert seen == sorted(seen, key=lambda m: _family(fhir, m)), "pages left the sort order"
    end = _search(fhir, "family=wave&_sort=-family&_count=3")  # the last page, read backward
    back = _walk(fhir, _links(end)["self"].removeprefix(BASE), "next", arrive)
    seen_back = [m for page in back for m in page]
    assert len(seen_back) == len(set(seen_back))
    assert set(seen) <= set(seen_back)
    # previous links from the far end walk the same ascending order in reverse
    tail = _search(fhir, "family=wave&_sort=family&_count=4&_page_after=" + _cursor_of_last(fhir))
    pages = _walk(fhir, _links(tail)["previous"], "previous", arrive)
    before = [m for page in reversed(pages) for m in page]
    assert len(before) == len(set(before)), "a patient was served twice going backward"
    assert set(seen) - {m for m in before} <= set(_order_of(tail)), "skipped going backward"


def _family(fhir: FhirClient, mrn: str) -> str:
    entry = _search(fhir, f"identifier={mrn}")["entry"][0]["resource"]
    return str(entry["name"][0]["family"]).casefold()


def _order_of(body: dict[str, Any]) -> list[str]:
    return [e["resource"]["identifier"][0]["value"] for e in body.get("entry", [])]


def _cursor_of_last(fhir: FhirClient) -> str:
    """The cursor just before the last patient in family order (from a real next link)."""
    total = _search(fhir, "family=wave&_count=0")["total"]
    body = _search(fhir, f"family=wave&_sort=family&_count={total - 1}")
    return _links(body)["next"].rpartition("_page_after=")[2]


def test_revinclude_adds_the_patients_observations_and_encounters(fhir: FhirClient) -> None:
    _seed(fhir, {"MRN1": ("DOE", "JANE", "1980-01-31", "female")})
    _seed(fhir, {"MRN2": ("DOE", "JOHN", "1981-01-31", "male")})
    sent = fhir.post("/fhir", r.bundle(r.entry(r.encounter()), r.entry(r.observation(order="RI1"))))
    assert sent.status_code == 200, sent.text
    fhir.catch_up()
    body = _search(fhir, "family=doe&_revinclude=Observation:patient&_revinclude=Encounter:patient")
    kinds = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in body["entry"]]
    assert body["total"] == 2
    assert sorted(kinds) == [
        ("Encounter", "include"),
        ("Observation", "include"),
        ("Patient", "match"),
        ("Patient", "match"),
    ]
    jane = _search(fhir, "identifier=MRN1")["entry"][0]["resource"]["id"]
    included = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "include"]
    assert {x["subject"]["reference"] for x in included} == {f"Patient/{jane}"}
    only = _search(fhir, "identifier=MRN1&_revinclude=Observation:subject")
    assert [e["resource"]["resourceType"] for e in only["entry"]] == ["Patient", "Observation"]
    for bad in (
        "_revinclude=ChargeItem:patient",
        "_sort=gender",
        "_sort=family,birthdate",
        "_page_after=notacursor",
        "_lastUpdated=ap2024",
        "_lastUpdated=yesterday",
    ):
        refused = fhir.get(f"/fhir/Patient?{bad}")
        assert refused.status_code == 400, bad
        assert refused.json()["resourceType"] == "OperationOutcome"
