"""The queue read model on every backend: order, moves, waits, stats, replay, merges."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from adapters.bootstrap import Engine, build
from engine.config import Settings
from projections.catalog import spec_for
from projections.queue import MemoryQueueView, QueueVisit, priority_of
from projections.runner import PollingProjectionRunner
from tests.fakes import FakeMessageValidator
from tests.integration import visit_scenario as s
from tests.messages import adt


def _engine(store_url: str, **settings: Any) -> Engine:
    return build(Settings(store=store_url, **settings), validator=FakeMessageValidator())


def _send(engine: Engine, messages: list[bytes]) -> None:
    for m in messages:
        outcome = engine.ingestion.ingest(m, "test")
        assert outcome.ack_code == "AA", outcome.faults
    engine.runner.catch_up()


def _order(view: Any, location: str = "ED") -> list[str]:
    return [e.visit_number for e in view.waiting(location, s.NOON)]


def test_the_queue_follows_the_visits_in_priority_then_arrival_order(store_url: str) -> None:
    engine = _engine(store_url)
    queue = engine.views["queue"]
    _send(engine, s.ARRIVALS)
    assert _order(queue) == ["V3", "V4", "V5", "V2", "V1"]  # V6 is only pre-admitted
    _send(engine, s.ARRIVED)
    assert _order(queue) == ["V3", "V4", "V5", "V2", "V6", "V1"]

    _send(engine, s.MOVES[:1])  # V1 transferred to XRAY
    assert _order(queue) == ["V3", "V4", "V5", "V2", "V6"]
    assert _order(queue, "XRAY") == ["V1"]
    _send(engine, s.MOVES[1:2])  # transfer cancelled: back to ED with its wait
    assert _order(queue, "XRAY") == []
    assert _order(queue)[-1] == "V1"
    _send(engine, s.MOVES[2:3])  # V2 discharged
    assert "V2" not in _order(queue)
    _send(engine, s.MOVES[3:])  # discharge cancelled, V5 cancelled, V3 and V4 discharged, merge
    entries = queue.waiting("ED", s.NOON)
    assert [e.visit_number for e in entries] == ["V2", "V6", "V1"]
    assert [e.position for e in entries] == [1, 2, 3]
    v2, v6, v1 = entries
    assert (v2.priority, v2.rank, v2.arrived_at) == ("U", 1, s.at("1005"))
    assert v2.wait_seconds == 115 * 60  # since 10:05: the discharge was undone
    assert (v6.arrived_at, v6.wait_seconds) == (s.at("1030"), 90 * 60)
    assert (v1.priority, v1.rank, v1.arrived_at) == ("R", 2, s.at("1000"))
    assert v1.patient_id == s.patient("M7")  # merged: listed under the survivor
    assert v1.encounter_id == s.visit("V1")
    engine.close()


def test_daily_stats_count_waits_of_those_who_left_and_arrivals_per_hour(store_url: str) -> None:
    engine = _engine(store_url)
    _send(engine, s.ALL)
    queue = engine.views["queue"]
    stats = queue.stats("ED", s.DAY, s.NOON.tzinfo)
    assert stats.left == 3  # V5 (cancelled), V3 and V4 (discharged); V2 came back
    assert stats.average_wait_seconds == (3600 + 4800 + 5100) / 3
    assert stats.p90_wait_seconds == 5100
    assert stats.arrivals == 6
    assert stats.arrivals_per_hour[10] == 6 and sum(stats.arrivals_per_hour) == 6
    xray = queue.stats("XRAY", s.DAY, s.NOON.tzinfo)  # the cancelled transfer never happened
    assert (xray.left, xray.arrivals, xray.average_wait_seconds) == (0, 0, None)
    other_day = queue.stats("ED", s.DAY.replace(day=2), s.NOON.tzinfo)
    assert (other_day.left, other_day.arrivals, other_day.p90_wait_seconds) == (0, 0, None)
    engine.close()


def test_days_are_cut_in_the_given_time_zone(store_url: str) -> None:
    from zoneinfo import ZoneInfo

    engine = _engine(store_url)
    _send(engine, s.ALL)
    queue = engine.views["queue"]
    tokyo = queue.stats("ED", s.DAY, ZoneInfo("Asia/Tokyo"))  # 10:xx UTC is 19:xx in Tokyo
    assert tokyo.arrivals == 6 and tokyo.arrivals_per_hour[19] == 6
    new_york = queue.stats("ED", s.DAY, ZoneInfo("America/New_York"))  # 05:xx there
    assert new_york.arrivals == 6 and new_york.arrivals_per_hour[5] == 6
    kiritimati = queue.stats("ED", s.DAY, ZoneInfo("Pacific/Kiritimati"))  # UTC+14: Jan 2
    assert (kiritimati.arrivals, kiritimati.left) == (0, 0)
    assert queue.stats("ED", s.DAY.replace(day=2), ZoneInfo("Pacific/Kiritimati")).left == 3
    engine.close()


def _snapshot(view: Any) -> dict[str, Any]:
    visits = {n: view.visit(s.visit(n)) for n in ("V1", "V2", "V3", "V4", "V5", "V6")}
    stays = {(n, seq): view.stay(s.visit(n), seq) for n in visits for seq in range(0, 4)}
    return {
        "queues": {loc: view.waiting(loc, s.NOON) for loc in ("ED", "XRAY")},
        "stats": {loc: view.stats(loc, s.DAY, s.NOON.tzinfo) for loc in ("ED", "XRAY")},
        "visits": visits,
        "stays": stays,
    }


def test_replay_from_zero_equals_live_and_twice_changes_nothing(store_url: str) -> None:
    engine = _engine(store_url)
    _send(engine, s.ARRIVALS)  # live: caught up in several runs
    _send(engine, s.ARRIVED)
    _send(engine, s.MOVES)
    live = _snapshot(engine.views["queue"])
    spec = spec_for("queue")

    fresh = MemoryQueueView()
    runner = PollingProjectionRunner(engine.ingestion, spec.project(fresh))
    assert runner.catch_up() > 0
    assert _snapshot(fresh) == live
    again = PollingProjectionRunner(engine.ingestion, spec.project(fresh))
    assert again.catch_up() == 0
    assert _snapshot(fresh) == live
    # The live view, fed the whole history again, applies nothing twice.
    rerun = PollingProjectionRunner(engine.ingestion, spec.project(engine.views["queue"]))
    assert rerun.catch_up() == 0
    assert _snapshot(engine.views["queue"]) == live
    engine.close()


def test_a_crash_in_a_batch_leaves_neither_rows_nor_position(store_url: str) -> None:
    engine = _engine(store_url)
    view = engine.views["queue"]
    visit = QueueVisit("e1", "p1", "V1", "E", 0, "ED", True, s.at("1000"), 1, "in-progress")
    with pytest.raises(RuntimeError), view.batch():
        view.save_visit(visit, (), (), Tracking("carelog", 1))
        raise RuntimeError("crash between the rows and the next position")
    if not isinstance(view, MemoryQueueView):  # memory commands are atomic one by one
        assert view.visit("e1") is None and view.max_tracking_id("carelog") is None
        view.save_visit(visit, (), (), Tracking("carelog", 1))
    assert view.visit("e1") == visit and view.max_tracking_id("carelog") == 1
    with pytest.raises(IntegrityError):  # applied once, never twice
        view.save_visit(visit, (), (), Tracking("carelog", 1))
    engine.close()


@pytest.mark.parametrize(
    ("priority", "admission_type", "expected"),
    [
        ("", "E", ("E", 0)),
        ("", "U", ("U", 1)),
        ("", "R", ("R", 2)),
        ("", "", ("", 2)),
        ("1", "R", ("1", 0)),
        ("2", "E", ("2", 1)),  # PV2-25 wins when sent
        ("3", "E", ("3", 2)),
        ("e", "", ("E", 0)),
    ],
)
def test_priority_comes_from_pv2_25_else_pv1_4(
    priority: str, admission_type: str, expected: tuple[str, int]
) -> None:
    assert priority_of(priority, admission_type) == expected


def test_a_class_change_to_another_point_of_care_moves_the_queue(store_url: str) -> None:
    engine = _engine(store_url, queue_classes=frozenset({"O", "I"}))  # wards queue here
    queue = engine.views["queue"]
    _send(
        engine, [adt("A04", "C1", location="ED^1", patient_class="O", event_time="20240101100000")]
    )
    _send(
        engine,
        [adt("A06", "C2", location="WARD2^7", patient_class="I", event_time="20240101103000")],
    )
    assert (_order(queue), _order(queue, "WARD2")) == ([], ["V1"])
    (entry,) = queue.waiting("WARD2", s.NOON)
    assert entry.arrived_at == s.at("1030")
    # A bed move within the same point of care keeps the place and the wait.
    _send(engine, [adt("A02", "C3", location="WARD2^9", event_time="20240101110000")])
    assert queue.waiting("WARD2", s.NOON) == [entry]
    stats = queue.stats("ED", s.DAY, s.NOON.tzinfo)
    assert (stats.left, stats.average_wait_seconds) == (1, 1800.0)
    engine.close()


def test_arrival_order_is_by_instant_whatever_offset_the_feed_sent(store_url: str) -> None:
    engine = _engine(store_url)
    # 10:30 in New York (UTC-5) is 15:30 UTC: after 15:00 UTC sent without an offset.
    early = adt(
        "A04",
        "O1",
        mrn="M1",
        visit="V1",
        location="ED",
        event_time="20240101150000",
        patient_class="E",
    )
    late = adt(
        "A04",
        "O2",
        mrn="M2",
        visit="V2",
        location="ED",
        event_time="20240101103000-0500",
        patient_class="E",
    )
    _send(engine, [late, early])
    entries = engine.views["queue"].waiting("ED", s.at("1600"))
    assert [(e.visit_number, e.wait_seconds) for e in entries] == [("V1", 3600.0), ("V2", 1800.0)]
    engine.close()


def test_hours_of_a_day_when_the_clocks_change() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from projections.queue.view import hour_bounds

    zone = ZoneInfo("America/New_York")
    spring = hour_bounds(date(2024, 3, 10), zone)  # 02:00 does not exist
    assert len(spring) == 25 and spring[2] == spring[3]  # the skipped hour is empty
    assert (spring[-1] - spring[0]).total_seconds() == 23 * 3600
    autumn = hour_bounds(date(2024, 11, 3), zone)  # 01:00 happens twice
    assert (autumn[2] - autumn[1]).total_seconds() == 2 * 3600  # both count in hour 1
    assert (autumn[-1] - autumn[0]).total_seconds() == 25 * 3600
