"""EventCache.build: a copied earlier state plus the newer events is what a full replay builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import OriginatorIDError

from engine.application.cache import EventCache, project
from engine.domain.patient import Patient
from engine.domain.values import Identifier, PersonName

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _history(updates: int) -> tuple[Any, ...]:
    patient = Patient.register(
        uuid4(),
        identifiers=[Identifier("MRN1", "HOSP", "MR")],
        name=PersonName("DOE", "JANE"),
        birth_date="1980-01-01",
        sex="F",
        occurred_at=T0,
        source_message_id=uuid4(),
    )
    for n in range(updates):
        patient.record_demographics(
            identifiers=[Identifier(f"X{n}", "HOSP", "PI")],
            name=PersonName("DOE", f"JANE{n}"),
            birth_date="",
            sex="",
            occurred_at=T0,
            source_message_id=uuid4(),
        )
    return tuple(patient.collect_events())


def _committed(cache: EventCache, events: tuple[Any, ...]) -> None:
    """As ingestion does after a commit of these events (store positions 1..n)."""
    cache.check_head(0)
    cache.committed(list(events), head=0, first=1, last=len(events))


def test_build_matches_a_full_replay_as_the_history_grows() -> None:
    history = _history(6)
    aggregate_id = history[0].originator_id
    cache = EventCache(100)
    _committed(cache, history[:3])
    first = cache.build(aggregate_id, cache.get(aggregate_id))
    assert vars(first) == vars(project(history[:3]))
    # the handler changes what it was lent: the remembered state must not change
    first.record_demographics(
        identifiers=[],
        name=PersonName("ROE", "RICHARD"),
        birth_date="1999",
        sex="M",
        occurred_at=T0,
        source_message_id=uuid4(),
    )
    again = cache.build(aggregate_id, cache.get(aggregate_id))
    assert vars(again) == vars(project(history[:3]))
    assert again is not first and again.pending_events == []
    # newer committed events are applied on a copy of the remembered state
    cache.committed(list(history[3:]), head=3, first=4, last=6)
    grown = cache.get(aggregate_id)
    assert grown == history
    assert vars(cache.build(aggregate_id, grown)) == vars(project(history))
    staged = (*grown, *_history(1)[1:])  # a staged event of another stream: refused by mutate
    with pytest.raises(OriginatorIDError):
        cache.build(aggregate_id, staged)


def test_a_different_history_is_replayed_in_full() -> None:
    history = _history(3)
    aggregate_id = history[0].originator_id
    cache = EventCache(100)
    _committed(cache, history)
    cache.build(aggregate_id, cache.get(aggregate_id))
    other = _history(2)  # same length prefix, other events: the remembered state must not apply
    rebuilt = cache.build(aggregate_id, other)
    assert vars(rebuilt) == vars(project(other))
    assert cache.build(aggregate_id, ()) is None


def test_eviction_and_clear_forget_the_state() -> None:
    history = _history(1)
    aggregate_id = history[0].originator_id
    cache = EventCache(1)
    _committed(cache, history)
    cache.build(aggregate_id, cache.get(aggregate_id))
    assert aggregate_id in cache._built
    cache.clear()
    assert cache._built == {}


def test_histories_read_with_the_head_are_kept_only_if_nothing_moved_since() -> None:
    history = _history(1)
    aggregate_id = history[0].originator_id
    other = _history(0)
    cache = EventCache(100)
    _committed(cache, other)
    # the head moved behind our back (another writer): emptied, then the snapshot is kept
    generation = cache.generation
    cache.check_head(5, generation=generation, histories={aggregate_id: history})
    assert cache.head == 5
    assert cache.get(aggregate_id) == history
    assert cache.get(other[0].originator_id) is None
    # a commit between the read and the check: the histories may be stale, dropped
    generation = cache.generation
    cache.committed(list(_history(0)), head=5, first=6, last=6)
    stale = {uuid4(): ()}
    cache.check_head(5, generation=generation, histories=stale)
    assert cache.head == 5 and len(cache) == 0
    assert next(iter(stale)) not in cache
