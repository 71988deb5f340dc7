"""A view's unit of work inside ``view.batch()``: buffered rows, reads of its own writes, rollback.

Inside a batch SQL views buffer their rows and write them at the end, one
executemany per kind of statement. These tests hold that to what executing
every command in order gives: the same rows whatever the batch size, the
batch's own writes visible to the batch's reads (and queries), and nothing
left behind by a batch that fails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from adapters.bootstrap import build, build_view
from engine.config import Settings
from engine.domain.values import Identifier, PersonName
from projections.catalog import CATALOG, spec_for
from projections.rebuild import build_sqlite
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario
from tests.integration.audit.helpers import dump, dump_sqlite
from tests.integration.read_models import billing_scenario
from tests.scenario import STAY

SPECS = [pytest.param(spec, id=spec.key) for spec in CATALOG]
MESSAGES = [*STAY, *visit_scenario.ALL, *billing_scenario.MESSAGES]


def _engine(store_url: str) -> Any:
    engine = build(Settings(store=store_url), validator=FakeMessageValidator())
    for message in MESSAGES:
        engine.ingestion.ingest(message, "test")
    return engine


def _events(engine: Any, spec: Any) -> list[tuple[Any, Tracking]]:
    """Every stored event the projection subscribes to, with its tracking."""
    topics = set(spec.projection.topics)
    head = engine.ingestion.recorder.max_notification_id()
    notifications = engine.ingestion.recorder.select_notifications(1, head)
    return [
        (engine.ingestion.mapper.to_domain_event(n), Tracking(engine.ingestion.name, n.id))
        for n in notifications
        if n.topic in topics
    ]


@pytest.mark.parametrize("spec", SPECS)
def test_rows_are_the_same_one_by_one_and_in_one_batch(tmp_path: Path, spec: Any) -> None:
    engine = _engine(f"sqlite:///{tmp_path / 'carelog.db'}")
    one_by_one = tmp_path / "one_by_one.db"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(one_by_one)}
    view = build_view(spec, engine.settings, env)
    # batch_size=1: each event is its own transaction, nothing is buffered.
    PollingProjectionRunner(engine.ingestion, spec.project(view), batch_size=1).catch_up()
    view.datastore.close()
    batched = tmp_path / "batched.db"
    build_sqlite(engine.ingestion, [spec], batched)  # the whole history in one batch
    expected = dump_sqlite(one_by_one, spec)
    assert any(expected[t] for t in spec.tables), "the scenario gives this read model rows"
    assert dump_sqlite(batched, spec) == expected
    engine.close()


def test_a_batch_reads_its_own_writes(durable_store_url: str) -> None:
    engine = _engine(durable_store_url)  # not caught up: its queue view is empty
    spec = spec_for("queue")
    view = engine.views["queue"]
    projection = spec.project(view)
    reference = spec.memory()  # applied one event at a time: the reference
    expected = spec.project(reference)
    events = _events(engine, spec)
    locations = {e.location.point_of_care for e, _ in events if getattr(e, "location", None)}
    buffered = 0
    with view.batch():
        for event, tracking in events:
            projection.process_event(event, tracking)
            expected.process_event(event, tracking)
            buffered = max(buffered, len(view._buffered("visits") or ()))
            # Handlers read the visit (and its stays) they are about to change:
            # inside the batch that is the batch's own buffered state.
            encounter_id = str(event.originator_id)
            visit = view.visit(encounter_id)
            assert visit == reference.visit(encounter_id)
            if visit is not None:
                for seq in (visit.stay_seq - 1, visit.stay_seq):
                    assert view.stay(encounter_id, seq) == reference.stay(encounter_id, seq)
        assert buffered > 1, "rows were buffered, not written one by one"
        # A query inside the batch sees everything the batch wrote so far.
        inside = {loc: view.queued(loc) for loc in sorted(locations)}
        assert inside == {loc: reference.queued(loc) for loc in sorted(locations)}
        assert any(inside.values())
    assert {loc: view.queued(loc) for loc in sorted(locations)} == inside
    assert view.max_tracking_id(engine.ingestion.name) == events[-1][1].notification_id
    engine.close()


class _Boom(Exception):
    pass


@pytest.mark.parametrize("spec", SPECS)
def test_a_batch_that_fails_leaves_nothing(durable_store_url: str, spec: Any) -> None:
    engine = _engine(durable_store_url)  # not caught up: its views are empty
    view = engine.views[spec.key]
    projection = spec.project(view)
    events = _events(engine, spec)
    with pytest.raises(_Boom), view.batch():
        for event, tracking in events:
            projection.process_event(event, tracking)
        raise _Boom
    assert (view.max_tracking_id(engine.ingestion.name) or 0) == 0
    assert all(rows == [] for rows in dump(durable_store_url, spec).values())
    # Nothing buffered survives the failure: the next batch starts clean.
    engine.runner.catch_up()
    assert view.max_tracking_id(engine.ingestion.name) == events[-1][1].notification_id
    state = dump(durable_store_url, spec)
    assert any(state[t] for t in spec.tables)
    engine.close()


def test_a_batch_keeps_the_latest_claim_in_store_order_not_the_last_applied(
    durable_store_url: str,
) -> None:
    # A Kafka worker's batch mixes partitions: a claim from a later position can
    # be applied before one from an earlier position. The batch must keep the
    # later position's claim, as the upsert's WHERE does one by one.
    engine = build(Settings(store=durable_store_url), validator=FakeMessageValidator())
    view = engine.views["patients"]
    name = PersonName("DOE", "JANE")
    mrn = Identifier("MRN9", "HOSP", "MR")
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with view.batch():
        view.register_patient("a", (), name, "", "F", when, Tracking("p0", 1))
        view.register_patient("b", (), name, "", "F", when, Tracking("p1", 1))
        view.add_identifier("a", mrn, Tracking("p0", 10))
        view.add_identifier("b", mrn, Tracking("p1", 5))  # earlier in the store
    assert [r.patient_id for r in view.find_by_identifier("MRN9")] == ["a"]
    with view.batch():  # a later claim, stored, then an older one in a new batch
        view.add_identifier("b", mrn, Tracking("p1", 12))
        view.add_identifier("a", mrn, Tracking("p0", 11))
    assert [r.patient_id for r in view.find_by_identifier("MRN9")] == ["b"]
    engine.close()
