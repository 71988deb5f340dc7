"""Feeding the event history into read-model views: the part of a rebuild that runs anywhere.

``feed`` catches views up through the ``PollingProjectionRunner`` from their
position, reporting progress and (with an ``AsOf``) hiding the events recorded
or occurred after a time: those only move the position. ``build_here`` does it
into fresh SQLite views in a file of their own (a scratch copy or an as-of
answer). Used by ``projections.rebuild`` in this process and by the worker
processes of ``projections.replay_workers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent, TrackingRecorder
from eventsourcing.sqlite import SQLiteFactory

from projections.catalog import ProjectionSpec
from projections.decoding import event_decoder
from projections.runner import EventSource, PollingProjectionRunner

__all__ = [
    "BULK_CACHE_KIB",
    "REBUILD_BATCH",
    "AsOf",
    "Progress",
    "build_here",
    "close_views",
    "feed",
    "sqlite_views",
]

Progress = Callable[[int, int], None]
"""Called with (position reached, head) as a rebuild goes."""

REBUILD_BATCH = 10_000  # events per view transaction while rebuilding
BULK_CACHE_KIB = 256 * 1024  # SQLite page cache of a scratch or as-of file while it is built


@dataclass(frozen=True)
class AsOf:
    """A point in time and which clock it reads.

    ``by="recorded"`` (the default) keeps events carelog had recorded at or
    before ``time`` (eventsourcing's ``timestamp``): what carelog knew then,
    which is what an auditor asks. ``by="occurred"`` keeps events whose HL7
    time (``occurred_at``: EVN-2, else MSH-7) is at or before ``time``; events
    without one (InboundMessage.Received) are judged by their recorded time.
    Either way the kept events are applied in the order they were recorded.
    """

    time: datetime
    by: str = "recorded"

    def __post_init__(self) -> None:
        if self.by not in ("recorded", "occurred"):
            raise ValueError(f"as-of by must be recorded or occurred, not {self.by!r}")
        if self.time.tzinfo is None:
            raise ValueError("as-of time must carry an offset")

    def accepts(self, event: Any) -> bool:
        """Whether ``event`` belongs to the state as of this time."""
        when = getattr(event, "occurred_at", None) if self.by == "occurred" else None
        if when is None:
            when = event.timestamp
        return bool(when <= self.time)


class _Excluded:
    """Stands in for an event after the as-of time: projections only record the position."""

    __slots__ = ()


_EXCLUDED = _Excluded()


class _Mapper:
    """The application's mapper, reporting progress and hiding events ``as_of`` rejects."""

    def __init__(self, mapper: Any, as_of: AsOf | None, on_event: Callable[[int], None]) -> None:
        self._decode = event_decoder(mapper)
        self._as_of = as_of
        self._on_event = on_event

    def to_domain_event(self, notification: StoredEvent, /) -> Any:
        event = self._decode(notification)
        self._on_event(getattr(notification, "id", 0))  # a Notification: the runner reads those
        if self._as_of is not None and not self._as_of.accepts(event):
            return _EXCLUDED
        return event


class _Source:
    """What the runner reads from: the application's name, recorder and (wrapped) mapper."""

    def __init__(
        self, app: EventSource, as_of: AsOf | None, on_event: Callable[[int], None]
    ) -> None:
        self.name = app.name
        self.recorder = app.recorder
        self.mapper = _Mapper(app.mapper, as_of, on_event)


def _reporter(head: int, progress: Progress | None) -> Callable[[int], None]:
    step = max(1, head // 200)
    last = [0]

    def on_event(notification_id: int) -> None:
        if progress is not None and notification_id - last[0] >= step:
            last[0] = notification_id
            progress(notification_id, head)

    return on_event


def feed(
    app: Any,
    specs: Sequence[ProjectionSpec],
    views: Mapping[str, TrackingRecorder],
    *,
    as_of: AsOf | None,
    progress: Progress | None,
) -> int:
    """Catches ``views`` up from their position (0 when fresh); returns the head read."""
    head = app.recorder.max_notification_id() or 0
    source = _Source(app, as_of, _reporter(head, progress))
    projections = [spec.project(views[spec.key]) for spec in specs]
    runner = PollingProjectionRunner(source, *projections, batch_size=REBUILD_BATCH)
    runner.catch_up()
    if progress is not None:
        progress(head, head)
    return head


def sqlite_views(specs: Sequence[ProjectionSpec], path: Path) -> dict[str, TrackingRecorder]:
    """Views on a new file of their own: one datastore, tuned for a bulk load.

    The file is a scratch copy or an as-of answer, rebuilt if anything goes
    wrong, so it trades durability for speed: no fsync per commit, and a page
    cache large enough that random-key indexes (patient ids) stay in memory.
    """
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    factory = SQLiteFactory(env)
    views: dict[str, TrackingRecorder] = {
        spec.key: factory.tracking_recorder(spec.sqlite) for spec in specs
    }
    with factory.datastore.get_connection(commit=True) as conn:  # reused by this thread
        cursor = conn.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    return views


def close_views(views: Mapping[str, Any]) -> None:
    for view in views.values():
        datastore = getattr(view, "datastore", None)
        if datastore is not None:
            datastore.close()


def build_here(
    app: Any,
    specs: Sequence[ProjectionSpec],
    path: Path,
    *,
    as_of: AsOf | None,
    progress: Progress | None,
) -> int:
    """Catches the views of ``specs`` in ``path`` up here (from 0 when new); returns the head."""
    views = sqlite_views(specs, path)
    try:
        return feed(app, specs, views, as_of=as_of, progress=progress)
    finally:
        close_views(views)
