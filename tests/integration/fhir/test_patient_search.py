"""FHIR Patient search per parameter, prefix and modifier, and keyset paging, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient, open_client

PEOPLE = {
    "M1": ("Müller", "Zoë", "1980-01-31", "female"),
    "M2": ("MULLER", "Anna", "1975-06-15", "male"),
    "M3": ("Smith", "John", "1990-12-01", "male"),
}


def _seed(fhir: FhirClient, people: dict[str, tuple[str, str, str, str]] = PEOPLE) -> None:
    entries = [
        r.entry(r.patient(mrn, family, given, birthDate=birth, gender=gender))
        for mrn, (family, given, birth, gender) in people.items()
    ]
    response = fhir.post("/fhir", r.bundle(*entries))
    assert response.status_code == 200, response.text
    fhir.catch_up()


def _search(fhir: FhirClient, query: str) -> dict[str, Any]:
    response = fhir.get(f"/fhir/Patient?{query}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _mrns(fhir: FhirClient, query: str) -> list[str]:
    body = _search(fhir, query)
    found = sorted(e["resource"]["identifier"][0]["value"] for e in body.get("entry", []))
    assert body["total"] == len(found)
    return found


def test_names_match_by_prefix_without_case_or_accents(fhir: FhirClient) -> None:
    _seed(fhir)
    assert _mrns(fhir, "family=mul") == ["M1", "M2"]
    assert _mrns(fhir, f"family={quote('MÜL')}") == ["M1", "M2"]
    assert _mrns(fhir, "family=muller") == ["M1", "M2"]
    assert _mrns(fhir, "family=mullers") == []
    assert _mrns(fhir, "given=zoe") == ["M1"]
    assert _mrns(fhir, "given=ohn") == []  # a prefix, not a substring
    assert _mrns(fhir, "name=smi") == ["M3"]
    assert _mrns(fhir, "name=jo,ann") == ["M2", "M3"]  # comma: either
    assert _mrns(fhir, "family=mul&given=an") == ["M2"]  # two parameters: both
    assert _mrns(fhir, "name=mul&name=zo") == ["M1"]


def test_birthdate_prefixes_and_partial_dates(fhir: FhirClient) -> None:
    _seed(fhir)
    assert _mrns(fhir, "birthdate=1980") == ["M1"]
    assert _mrns(fhir, "birthdate=1980-01") == ["M1"]
    assert _mrns(fhir, "birthdate=eq1980-01-31") == ["M1"]
    assert _mrns(fhir, "birthdate=1980-01-30") == []
    assert _mrns(fhir, "birthdate=lt1980") == ["M2"]
    assert _mrns(fhir, "birthdate=le1980") == ["M1", "M2"]
    assert _mrns(fhir, "birthdate=gt1980") == ["M3"]
    assert _mrns(fhir, "birthdate=ge1980-01-31") == ["M1", "M3"]
    assert _mrns(fhir, "birthdate=ne1980") == ["M2", "M3"]
    assert _mrns(fhir, "birthdate=ge1975&birthdate=lt1990") == ["M1", "M2"]


def test_gender_id_and_identifier(fhir: FhirClient) -> None:
    _seed(fhir)
    assert _mrns(fhir, "gender=female") == ["M1"]
    assert _mrns(fhir, "gender=male,female") == ["M1", "M2", "M3"]
    assert _mrns(fhir, "gender=other") == []
    patient_id = _search(fhir, "identifier=M3")["entry"][0]["resource"]["id"]
    assert _mrns(fhir, f"_id={patient_id}") == ["M3"]
    assert _mrns(fhir, f"identifier={r.HOSP}|M2") == ["M2"]
    assert _mrns(fhir, "identifier=urn:other|M2") == []
    assert _mrns(fhir, "gender=male&birthdate=lt1980") == ["M2"]


def test_bad_or_unknown_parameters_are_refused_with_an_operation_outcome(
    fhir: FhirClient,
) -> None:
    _seed(fhir)
    for query in (
        "name:exact=Smith",
        "address=Main",
        "birthdate=1980-13",
        "birthdate=ap1980",
        "gender=f",
        "_count=ten",
        "_summary=true",
        "_total=exact",
        "family=",
        "identifier=",
    ):
        response = fhir.get(f"/fhir/Patient?{query}")
        assert response.status_code == 400, query
        body = response.json()
        assert body["resourceType"] == "OperationOutcome", query
        assert body["issue"][0]["diagnostics"], query


def test_summary_count_gives_the_total_only(fhir: FhirClient) -> None:
    _seed(fhir)
    body = _search(fhir, "family=mul&_summary=count")
    assert body["total"] == 2 and "entry" not in body
    assert _search(fhir, "_count=0")["total"] == 3
    assert _search(fhir, "_count=0&_total=none")["total"] == 3  # a count is what was asked


def test_total_none_leaves_out_the_count_and_nothing_else(fhir: FhirClient) -> None:
    _seed(fhir)
    counted = _search(fhir, "family=mul&_count=1")
    uncounted = _search(fhir, "family=mul&_count=1&_total=none")
    assert counted["total"] == 2 and "total" not in uncounted
    assert uncounted["entry"] == counted["entry"]
    assert [link["relation"] for link in uncounted["link"]] == ["self", "next"]
    for value in ("estimate", "accurate"):
        assert _search(fhir, f"family=mul&_total={value}")["total"] == 2


def _page_through(fhir: FhirClient, query: str, between: Any) -> list[list[str]]:
    pages = []
    url = f"/fhir/Patient?{query}"
    while url:
        body = fhir.get(url).json()
        pages.append([e["resource"]["identifier"][0]["value"] for e in body.get("entry", [])])
        between(len(pages))
        nxt = [link["url"] for link in body["link"] if link["relation"] == "next"]
        url = nxt[0].removeprefix("http://carelog.test") if nxt else ""
    return pages


def test_paging_while_patients_arrive_has_no_duplicate_and_no_gap(fhir: FhirClient) -> None:
    first = {f"P{n}": (f"PAGE{n}", "Ann", "1970-01-01", "female") for n in range(8)}
    _seed(fhir, first)

    def arrive(page: int) -> None:
        _seed(
            fhir, {f"N{page}{n}": (f"PAGE{page}{n}", "Ann", "1971-01-01", "male") for n in range(3)}
        )

    pages = _page_through(fhir, "family=page&_count=3", arrive)
    seen = [mrn for page in pages for mrn in page]
    assert all(len(page) <= 3 for page in pages)
    assert len(seen) == len(set(seen)), "a patient was served twice"
    assert set(first) <= set(seen), "a patient present from the start was skipped"


def test_patient_tables_made_before_the_name_keys_get_them_at_start(
    durable_store_url: str,
) -> None:
    opened = open_client(durable_store_url)
    fhir = next(opened)
    _seed(fhir)
    with fhir.engine.views["patients"].datastore.transaction(commit=True) as c:
        c.execute("DROP INDEX patients_v1_sort_family_key")  # the _sort index on it
        for column in ("family_key", "given_key", "middle_key"):
            c.execute(f"DROP INDEX patients_v1_{column}")
            c.execute(f"ALTER TABLE patients_v1 DROP COLUMN {column}")
    opened.close()
    reopened = open_client(durable_store_url)
    try:
        assert _mrns(next(reopened), "family=mul") == ["M1", "M2"]
    finally:
        reopened.close()
