"""The patient view's keyset pages on every backend (memory, SQLite, PostgreSQL): forward and
backward pages in each ``_sort`` order, both directions, cover every match once, and
``_lastUpdated`` ranges select on the stored instants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from adapters.bootstrap import Engine, build
from engine.config import Settings
from projections.patients.search import DateRange, Keyset, PatientCriteria, instant_bounds
from projections.patients.view import PatientRecord, PatientView, sort_value
from tests.fakes import FakeMessageValidator
from tests.messages import adt

NAMES = ["Odegaard", "adams", "Baker", "baker", "Zhu", "Adams", "emile", "carter"]


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    for n, family in enumerate(NAMES):
        raw = adt(
            "A04",
            f"K{n}",
            mrn=f"K{n}",
            name=f"{family}^ANN",
            birth=f"19{70 + n % 3}0101",
            visit=f"KV{n}",
        )
        assert engine.ingestion.ingest(raw, "test").ack_code == "AA"
    engine.runner.catch_up()
    yield engine
    engine.close()


def _pages(view: PatientView, keyset: Keyset, size: int) -> list[list[str]]:
    criteria = PatientCriteria(keyset=keyset)
    pages: list[list[str]] = []
    while True:
        records = view.search(criteria, size)
        if not records:
            return pages
        pages.append([r.patient_id for r in records])
        edge: PatientRecord = records[0] if keyset.backward else records[-1]
        cursor = (sort_value(edge, keyset.sort), edge.patient_id)
        criteria = replace(criteria, keyset=replace(keyset, cursor=cursor))


@pytest.mark.parametrize("sort", ["", "family", "birthdate", "_lastUpdated"])
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_cover_every_patient_once_in_order_both_ways(
    engine: Engine, sort: str, descending: bool
) -> None:
    view = engine.patients
    everyone = view.search(PatientCriteria(), 100)
    assert len(everyone) == len(NAMES)
    ordered = sorted(
        everyone, key=lambda r: (sort_value(r, sort), r.patient_id), reverse=descending
    )
    expected = [r.patient_id for r in ordered]
    keyset = Keyset(sort, descending)
    forward = _pages(view, keyset, 3)
    assert [p for page in forward for p in page] == expected
    assert [len(page) for page in forward] == [3, 3, 2]
    last = ordered[-1]
    beyond = (sort_value(last, sort) + "\uffff", "\uffff") if not descending else ("", "")
    backward = _pages(view, replace(keyset, cursor=beyond, backward=True), 3)
    assert [p for page in reversed(backward) for p in page] == expected
    if sort == "family":  # case folded: adams, Adams, Baker, baker, ...
        families = [search_family(view, p) for p in expected]
        assert families == sorted(families, reverse=descending)


def search_family(view: PatientView, patient_id: str) -> str:
    record = view.get_patient(patient_id)
    assert record is not None
    return sort_value(record, "family")


def test_last_updated_ranges_select_on_the_stored_instants(engine: Engine) -> None:
    view = engine.patients
    everyone = view.search(PatientCriteria(), 100)
    stamps = sorted(r.updated_at for r in everyone)
    middle = stamps[len(stamps) // 2]
    low, high = instant_bounds(middle.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    for prefix, wanted in (
        ("lt", [r for r in everyone if r.updated_at < middle.replace(microsecond=0)]),
        ("ge", [r for r in everyone if r.updated_at >= middle.replace(microsecond=0)]),
    ):
        criteria = PatientCriteria(last_updated=(DateRange(prefix, low, high),))
        found = {r.patient_id for r in view.search(criteria, 100)}
        assert found == {r.patient_id for r in wanted}, prefix
        assert view.count(criteria) == len(wanted)
    day = DateRange("eq", *instant_bounds(middle.date().isoformat()))
    assert view.count(PatientCriteria(last_updated=(day,))) >= 1
