"""Event class to handler, looked up in a dict: how projections route their events.

``functools.singledispatchmethod`` builds a new bound wrapper (with
``update_wrapper``) on every call on Python 3.11, and every event goes
through six projections, so dispatch alone cost more than some handlers. A
projection here marks its handlers with ``@handles(EventClass, ...)``; the
table is built once per class and each event type's handler is cached on
first use. The lookup follows the event class's MRO like singledispatch: a
handler for ``Patient.Event`` serves every patient event without a more
specific one. Events without a handler go to ``ignore`` (the position still
moves, so catch-up never stalls on them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

__all__ = ["DispatchingProjection", "handles"]

TView = TypeVar("TView", bound=TrackingRecorder)
Handler = Callable[[Any, Any, Tracking], None]
F = TypeVar("F", bound=Callable[..., None])


def handles(*event_classes: type) -> Callable[[F], F]:
    """Marks a projection method as the handler of ``event_classes`` (and their subclasses)."""
    if not event_classes:
        raise TypeError("handles() needs at least one event class")

    def mark(method: F) -> F:
        # A mark on the function object, read back by __init_subclass__ (F has no such field).
        method._handles = event_classes  # type: ignore[attr-defined]
        return method

    return mark


class DispatchingProjection(Projection[TView]):
    """A projection whose ``process_event`` finds the handler by the event's class."""

    _dispatch_table: ClassVar[dict[type, Handler]] = {}
    _dispatch_cache: ClassVar[dict[type, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type, Handler] = {}
        for klass in reversed(cls.__mro__):  # subclasses' handlers win
            for value in vars(klass).values():
                for event_class in getattr(value, "_handles", ()):
                    table[event_class] = value
        cls._dispatch_table = table
        cls._dispatch_cache = {}

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Applies ``domain_event`` through its handler, with ``tracking``, in one view command."""
        kind = type(domain_event)
        handler = self._dispatch_cache.get(kind)
        if handler is None:
            handler = self._resolve(kind)
        handler(self, domain_event, tracking)

    @classmethod
    def _resolve(cls, kind: type) -> Handler:
        registered = cls._dispatch_table
        handler = next((registered[k] for k in kind.__mro__ if k in registered), None)
        if handler is None:
            handler = cls.ignore
        cls._dispatch_cache[kind] = handler
        return handler

    def ignore(self, domain_event: Any, tracking: Tracking) -> None:
        """An event this projection has no handler for: only its position is recorded."""
        self.view.insert_tracking(tracking)
