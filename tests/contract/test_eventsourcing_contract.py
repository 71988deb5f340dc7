"""carelog's fast paths against eventsourcing's public paths, on the same events.

carelog replaces a few of the library's generic paths (engine/domain/lean.py,
engine/application/transcodings.py, projections/decoding.py, the recorders in
adapters/sqlite_store.py and adapters/postgres_store.py; the private names they
use are fenced, see tests/unit/test_eventsourcing_fence.py). This module runs
a hospital day's messages through carelog, then does the same work with the
library's public API only (a plain ``Mapper`` and ``JSONTranscoder``, the
library's own recorder classes from its factory, ``mutate``) and compares:

- the stored bytes: every stored event's topic and state, as the plain mapper
  writes them for the same domain event;
- the decoded events: carelog's decoder against the plain mapper;
- the rows and notification ids carelog's recorder stores against the
  library's recorder, for the same stored events;
- the aggregates carelog replays against those the library's ``mutate`` builds.

``make test`` runs this module a second time against the newest eventsourcing
release on PyPI (see the Makefile's ``contract-newest``), so that the cost of
an upgrade shows the day it is released.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    InfrastructureFactory,
    JSONTranscoder,
    Mapper,
    Notification,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.utils import Environment

from adapters.bootstrap import Engine, build
from engine.application.transcodings import register_value_transcodings
from engine.config import Settings
from engine.domain.lean import replay
from projections.decoding import event_decoder
from tests.conftest import _store_url
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario
from tests.integration.read_models import billing_scenario
from tests.scenario import STAY

_POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


@pytest.fixture(params=["sqlite", _POSTGRES])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, CARELOG_STORE URL) on each durable backend."""
    return request.param, _store_url(request.param, tmp_path)


@pytest.fixture
def engine(backend: tuple[str, str]) -> Any:
    engine = build(Settings(store=backend[1]), validator=FakeMessageValidator())
    # Three scenarios in one store: a few messages are refused (AE: a visit number or
    # a merge another scenario's patient holds), which stores their InboundMessage only.
    for message in (*STAY, *visit_scenario.ALL, *billing_scenario.MESSAGES):
        engine.ingestion.ingest(message, "test")
    yield engine
    engine.close()


def plain_mapper() -> Mapper[UUID]:
    """The mapper an eventsourcing application builds, with carelog's value transcodings."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_value_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def stored_events(engine: Engine) -> list[Notification]:
    """The store's records; encrypted at rest (the default), the state inside the envelope:
    the library's format is what carelog encrypts (docs/data-at-rest.md)."""
    recorder = engine.ingestion.recorder
    head = recorder.max_notification_id() or 0
    records = list(recorder.select_notifications(1, head))
    opened = getattr(engine.ingestion.mapper, "open", None)
    return [opened(n) for n in records] if opened is not None else records


def test_the_setting_up_is_what_it_claims(engine: Engine) -> None:
    """The fast paths are the ones in use (else the comparisons below prove nothing)."""
    app = engine.ingestion
    assert type(app.mapper) is not Mapper  # carelog's FastMapper
    assert event_decoder(app.mapper) != app.mapper.to_domain_event
    assert type(app.recorder).__module__.startswith("adapters.")
    assert len({n.topic for n in stored_events(engine)}) > 10


def test_stored_bytes_are_what_the_library_writes(engine: Engine) -> None:
    mapper = plain_mapper()
    notifications = stored_events(engine)
    for n in notifications:
        event = mapper.to_domain_event(n)
        again = mapper.to_stored_event(event)
        assert (again.topic, again.state) == (n.topic, n.state), n.topic
        assert (again.originator_id, again.originator_version) == (
            n.originator_id,
            n.originator_version,
        )


def test_decoded_events_are_what_the_library_decodes(engine: Engine) -> None:
    mapper = plain_mapper()
    # The decoder that reads what the envelope holds (stored_events opened it).
    decode = event_decoder(getattr(engine.ingestion.mapper, "inner", engine.ingestion.mapper))
    for n in stored_events(engine):
        expected, actual = mapper.to_domain_event(n), decode(n)
        assert type(actual) is type(expected)
        assert vars(actual) == vars(expected)
        assert {k: type(v) for k, v in vars(actual).items()} == {
            k: type(v) for k, v in vars(expected).items()
        }


def test_replayed_aggregates_are_what_mutate_builds(engine: Engine) -> None:
    mapper = plain_mapper()
    histories: dict[Any, list[Any]] = defaultdict(list)
    for n in stored_events(engine):
        histories[n.originator_id].append(mapper.to_domain_event(n))
    for events in histories.values():
        expected = None
        for event in events:
            expected = event.mutate(expected)
        actual = replay(events)
        assert type(actual) is type(expected)
        assert vars(actual) == vars(expected)


def _recorder(env: dict[str, str], name: str) -> Any:
    return InfrastructureFactory.construct(Environment(name, env)).application_recorder()


def test_the_recorder_stores_what_the_librarys_recorder_stores(
    engine: Engine, backend: tuple[str, str], tmp_path: Path
) -> None:
    """The same stored events, committed in the same groups, into carelog's recorder and
    into the library's (the recorder class its factory picks): same rows, same ids."""
    kind, url = backend
    env = Settings(store=url).eventsourcing_env()
    if kind == "sqlite":  # a file each (the table is stored_events whatever the name)
        from adapters.sqlite_store import RECORDER_TOPIC

        library_env = {**env, "SQLITE_DBNAME": str(tmp_path / "library.db")}
        our_env = {**env, "SQLITE_DBNAME": str(tmp_path / "carelog.db")}
    else:  # one database, a table each (<name>_events)
        from adapters.postgres_store import RECORDER_TOPIC

        library_env, our_env = env, dict(env)
    library = _recorder(library_env, "LibraryContract")
    ours = _recorder({**our_env, "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC}, "CarelogContract")
    assert type(library) is not type(ours) and isinstance(ours, type(library))
    events = [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        for n in stored_events(engine)
    ]
    groups = [events[:1], events[1:4], events[4:5], events[5:]]
    for group in groups:
        ids = library.insert_events(group), ours.insert_events(group)
        assert list(ids[0] or []) == list(ids[1] or []), "notification ids differ"
    head = library.max_notification_id()
    assert head == ours.max_notification_id() == len(events)
    rows = [
        [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(1, head)
        ]
        for recorder in (library, ours)
    ]
    assert rows[0] == rows[1]
    some = events[-1].originator_id
    assert list(library.select_events(some)) == list(ours.select_events(some))
    for recorder in (library, ours):
        recorder.datastore.close()
