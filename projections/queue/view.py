"""The queue read model: who is at each location, in the order they will be seen.

Per visit the view keeps where it is queued (``QueueVisit``) and every stay
it made in a location's queue (``QueueStay``: entered, left, how long it
waited). The projection decides the moves (``projection.py``); the view
stores whole records and answers the queries. Waits "so far" depend on the
time of the question, so ``waiting`` takes ``now`` from the caller: nothing in
the read model reads a clock.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from eventsourcing.persistence import Tracking, TrackingRecorder

__all__ = [
    "QueueEntry",
    "QueueStats",
    "QueueStay",
    "QueueView",
    "QueueVisit",
    "SeenEntry",
    "day_bounds",
    "hour_bounds",
    "percentile",
]


@dataclass(frozen=True, slots=True)
class QueueVisit:
    """A visit as the queue sees it (a row of ``queue_visits_v1``).

    ``rank`` orders the queue (0 emergency, 1 urgent, 2 the rest); ``priority``
    is the code it came from (PV2-25 when sent, else PV1-4). ``location`` is
    the point of care (PV1-3.1); ``present`` says the visit waits there now,
    since ``entered_at``; ``stay_seq`` numbers its current (or last) stay.
    ``patient_class`` (PV1-2) decides with the location whether it queues
    (``rules.py``). ``seen``: called from the queue and being seen in ``room``
    since ``called_at`` (by ``called_by``); the call is kept after the visit
    leaves, so a cancelled discharge (A13) can bring the call back.
    """

    encounter_id: str
    patient_id: str
    visit_number: str
    priority: str
    rank: int
    location: str
    present: bool
    entered_at: datetime | None
    stay_seq: int
    status: str
    patient_class: str = ""
    seen: bool = False
    room: str = ""
    called_at: datetime | None = None
    called_by: str = ""


@dataclass(frozen=True, slots=True)
class QueueStay:
    """One stay of a visit in a location's queue (a row of ``queue_stays_v1``).

    ``left_by`` names what ended it (called, transferred, discharged, cancelled,
    class-changed, admitted, transfer-cancelled); empty while the visit
    is still there. A call ends the wait: ``wait_seconds`` is then the wait until called.
    """

    encounter_id: str
    seq: int
    location: str
    entered_at: datetime
    left_at: datetime | None = None
    wait_seconds: float | None = None
    left_by: str = ""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One patient waiting at a location, with the wait so far at the time asked."""

    position: int
    patient_id: str
    encounter_id: str
    visit_number: str
    priority: str
    rank: int
    arrived_at: datetime
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class SeenEntry:
    """One patient called from a location's queue and being seen, with the time since."""

    patient_id: str
    encounter_id: str
    visit_number: str
    room: str
    called_at: datetime
    called_by: str
    seen_seconds: float


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A location's day: waits of those who left that day, arrivals per hour of day."""

    location: str
    day: date
    left: int
    average_wait_seconds: float | None
    p90_wait_seconds: float | None
    arrivals: int
    arrivals_per_hour: tuple[int, ...]  # 24 counts, hour 0 first, in the day's time zone


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the smallest value with ``fraction`` of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def hour_bounds(day: date, zone: tzinfo) -> list[datetime]:
    """25 instants: the start of each local hour of ``day`` in ``zone``, then the next midnight.

    On a day the clocks go back, the repeated hour counts in the first one; on a
    day they go forward, the skipped hour is empty.
    """
    start, end = day_bounds(day, zone)
    bounds = [datetime.combine(day, time(h), tzinfo=zone) for h in range(24)]
    bounds = [min(max(b.astimezone(UTC), start), end) for b in bounds]
    return [*bounds, end.astimezone(UTC)]


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The first instant of ``day`` in ``zone`` and of the next day (aware)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


class QueueView(TrackingRecorder, ABC):
    """Commands take a Tracking and apply atomically with it; queries return records."""

    @abstractmethod
    def save_visit(
        self,
        visit: QueueVisit,
        stays: Sequence[QueueStay],
        deleted: Sequence[int],
        tracking: Tracking,
    ) -> None:
        """Stores ``visit``, upserts ``stays``, removes the stays numbered in ``deleted``."""

    @abstractmethod
    def merge_patient(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        """Shows the retired patient's visits under the surviving patient."""

    @abstractmethod
    def visit(self, encounter_id: str) -> QueueVisit | None:
        """The visit's queue record (sees the runner's open batch), or None."""

    @abstractmethod
    def stay(self, encounter_id: str, seq: int) -> QueueStay | None:
        """One stay of a visit (sees the runner's open batch), or None."""

    @abstractmethod
    def queued(self, location: str) -> list[QueueVisit]:
        """The visits waiting at ``location``, in the order they will be seen."""

    @abstractmethod
    def called(self, location: str) -> list[QueueVisit]:
        """The visits called from ``location``'s queue and being seen, earliest call first."""

    def being_seen(self, location: str, now: datetime) -> list[SeenEntry]:
        """Who is being seen after a call from ``location``, with the time since the call."""
        entries = []
        for v in self.called(location):
            at = v.called_at or now
            entries.append(
                SeenEntry(
                    patient_id=v.patient_id,
                    encounter_id=v.encounter_id,
                    visit_number=v.visit_number,
                    room=v.room,
                    called_at=at,
                    called_by=v.called_by,
                    seen_seconds=max((now - at).total_seconds(), 0.0),
                )
            )
        return entries

    @abstractmethod
    def waits_left_between(self, location: str, start: datetime, end: datetime) -> list[float]:
        """Waits (s) of the stays at ``location`` that ended in [start, end)."""

    @abstractmethod
    def entries_counted(self, location: str, bounds: Sequence[datetime]) -> list[int]:
        """How many stays at ``location`` began in each [bounds[i], bounds[i + 1])."""

    def waiting(self, location: str, now: datetime) -> list[QueueEntry]:
        """Who waits at ``location``, in order, each with the wait so far at ``now``."""
        entries = []
        for n, v in enumerate(self.queued(location), start=1):
            arrived = v.entered_at
            if arrived is None:  # a queued visit is present, and entered_at is set on arrival
                raise ValueError(f"visit {v.encounter_id} is queued without an arrival time")
            entries.append(
                QueueEntry(
                    position=n,
                    patient_id=v.patient_id,
                    encounter_id=v.encounter_id,
                    visit_number=v.visit_number,
                    priority=v.priority,
                    rank=v.rank,
                    arrived_at=arrived,
                    wait_seconds=max((now - arrived).total_seconds(), 0.0),
                )
            )
        return entries

    def stats(self, location: str, day: date, zone: tzinfo) -> QueueStats:
        """``location``'s ``day`` (midnight to midnight in ``zone``).

        Waits are those of stays that ended that day (wait = from entering the
        location's queue to leaving it); arrivals are stays that began that day.
        """
        start, end = day_bounds(day, zone)
        waits = self.waits_left_between(location, start, end)
        hours = self.entries_counted(location, hour_bounds(day, zone))
        return QueueStats(
            location=location,
            day=day,
            left=len(waits),
            average_wait_seconds=sum(waits) / len(waits) if waits else None,
            p90_wait_seconds=percentile(waits, 0.9),
            arrivals=sum(hours),
            arrivals_per_hour=tuple(hours),
        )
