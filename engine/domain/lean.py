"""Creating, replaying and copying carelog's aggregates without eventsourcing's generic overhead.

eventsourcing fence (aggregates): the one module that sets an aggregate's
private attributes (``_id``, ``_version``, ``_created_on``, ``_modified_on``,
``_pending_events``) and reads ``__base_init__``. The public API
(``Aggregate._create``, which the library's docs use, and ``mutate``) builds
the same objects but was ~20 us of a message's ~190 us; a copy without pending
events has no public API at all (``collect_events`` empties the list it
shares with the original). tests/unit/test_lean.py and tests/contract check
that the objects equal the library's; tests/unit/test_eventsourcing_fence.py
keeps such uses out of every other module.

eventsourcing's ``Aggregate._create`` and ``AggregateCreated.mutate`` are
written for any aggregate: they filter keyword arguments through
``inspect``-derived signatures, build the event through a frozen dataclass
``__init__`` (one ``object.__setattr__`` per field) and resolve topics on every
call. On the ingest hot path that was ~20 us of the ~190 us a message costs.

The functions here produce the very same objects: the same event class, the
same attributes in the same (dataclass field) order, hence the same stored
state, and an aggregate whose ``__dict__`` equals what eventsourcing builds
(tests/unit/test_lean.py compares them). What varies per class (its fields,
its ``__init__`` parameters, its topic) is worked out once and remembered.
Anything unusual (an explicit TOPIC, a customised ``mutate``, a field left to
its default) takes eventsourcing's own path.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.domain import BaseAggregate, CanInitAggregate, DomainEvent
from eventsourcing.utils import get_topic, resolve_topic  # the helpers eventsourcing.domain uses

__all__ = ["copy_aggregate", "create", "replay"]

A = TypeVar("A", bound=BaseAggregate[Any])

# Classes are typed ``type[Any]``: this module reads attributes eventsourcing adds to
# them (``mutate``, ``__base_init__``, ``INITIAL_VERSION``) whatever the subclass.
_fields: dict[type, tuple[str, ...]] = {}
_topics: dict[type, str] = {}
_inits: dict[str, tuple[type[Any], frozenset[str], bool]] = {}
_PLAIN_INIT_MUTATE = CanInitAggregate.mutate
_PLAIN_BASE_INIT = BaseAggregate.__base_init__
_PLAIN_POST_INIT = DomainEvent.__post_init__


def _field_names(event_class: type[Any]) -> tuple[str, ...]:
    names = _fields.get(event_class)
    if names is None:
        names = _fields[event_class] = tuple(f.name for f in dataclasses.fields(event_class))
    return names


def _new_event(event_class: type[Any], values: dict[str, Any]) -> Any:
    """The event ``event_class(**values)`` would build, without the frozen ``__init__``.

    Only when ``values`` names exactly the class's fields (no defaults to fill
    in, nothing extra to refuse) and the id is a UUID (what ``__post_init__``
    checks); otherwise the dataclass constructor runs and decides.
    """
    names = _field_names(event_class)
    if (
        len(values) != len(names)
        or not isinstance(values.get("originator_id"), UUID)
        or event_class.__post_init__ is not _PLAIN_POST_INIT  # checks of its own: let them run
    ):
        return event_class(**values)
    try:
        state = {name: values[name] for name in names}
    except KeyError:
        return event_class(**values)
    event: Any = object.__new__(event_class)
    event.__dict__.update(state)
    return event


def _init_plan(topic: str) -> tuple[type[Any], frozenset[str], bool]:
    """The aggregate class a created event names, its ``__init__`` parameters, and
    whether that ``__init__`` takes ``id`` (as eventsourcing's ``mutate`` works out)."""
    plan = _inits.get(topic)
    if plan is None:
        aggregate_class = resolve_topic(topic)
        params = frozenset(inspect.signature(aggregate_class.__init__).parameters)
        plan = _inits[topic] = (aggregate_class, params, "id" in params)
    return plan


def _initialise(event: Any) -> Any:
    """What ``AggregateCreated.mutate(None)`` returns, for an event of a plain class."""
    aggregate_class, params, takes_id = _init_plan(event.originator_topic)
    if aggregate_class.__base_init__ is not _PLAIN_BASE_INIT:
        return event.mutate(None)
    state = event.__dict__
    # Through Any: mypy reads ``type[Any].__new__`` as the metaclass's ``type.__new__``.
    aggregate: Any = cast(Any, aggregate_class).__new__(aggregate_class)
    aggregate._id = state["originator_id"]
    aggregate._version = state["originator_version"]
    aggregate._created_on = aggregate._modified_on = state["timestamp"]
    aggregate._pending_events = []
    kwargs = {k: v for k, v in state.items() if k in params}
    if takes_id:
        kwargs["id"] = state["originator_id"]
    aggregate_class.__init__(aggregate, **kwargs)
    event.apply(aggregate)
    return aggregate


_HEAD = ("originator_id", "originator_version", "timestamp", "originator_topic")
_Plan = tuple[str, tuple[str, ...], tuple[str, ...], bool, int]
_plans: dict[tuple[type[Any], type[Any]], _Plan | None] = {}


def _create_plan(cls: type[Any], event_class: type[Any]) -> _Plan | None:
    """What ``create`` needs to know about a pair of classes, worked out once.

    (topic, the event's own fields after the four every event has, the event
    fields that ``__init__`` takes, whether it takes ``id``, the first version);
    ``None`` when anything is unusual, and ``create`` then checks each call.
    """
    if (
        getattr(cls, "TOPIC", None)
        or event_class.mutate is not _PLAIN_INIT_MUTATE
        or event_class.__post_init__ is not _PLAIN_POST_INIT
        or cls.__base_init__ is not _PLAIN_BASE_INIT
    ):
        return None
    names = _field_names(event_class)
    if names[:4] != _HEAD or len(set(names)) != len(names):
        return None
    topic = get_topic(cls)
    aggregate_class, params, takes_id = _init_plan(topic)
    if aggregate_class is not cls:
        return None
    init_names = tuple(name for name in names if name in params)
    return topic, names[4:], init_names, takes_id, cls.INITIAL_VERSION


def create(cls: type[A], event_class: type[Any], aggregate_id: UUID, **fields: Any) -> A:
    """``cls._create(event_class, id=aggregate_id, **fields)``, the lean way.

    For a plain pair of classes (the plan), the event's state is built straight
    in its field order and the aggregate initialised from it, as ``_initialise``
    does, with every check on the classes already made; a call that names other
    fields than the event's own (a timestamp, a missing or unknown one) takes
    the general way below, which decides as eventsourcing does.
    """
    key = (cls, event_class)
    try:
        plan = _plans[key]
    except KeyError:
        plan = _plans[key] = _create_plan(cls, event_class)
    if plan is not None and len(fields) == len(plan[1]) and type(aggregate_id) is UUID:
        topic, own, init_names, takes_id, version = plan
        state = {
            "originator_id": aggregate_id,
            "originator_version": version,
            "timestamp": event_class.create_timestamp(),
            "originator_topic": topic,
        }
        try:
            for name in own:
                state[name] = fields[name]
        except KeyError:
            pass  # not the event's fields: the general way refuses them as eventsourcing does
        else:
            event = object.__new__(event_class)
            event.__dict__.update(state)
            aggregate: Any = cls.__new__(cls)
            aggregate._id = aggregate_id
            aggregate._version = version
            aggregate._created_on = aggregate._modified_on = state["timestamp"]
            aggregate._pending_events = []
            kwargs = {name: state[name] for name in init_names}
            if takes_id:
                kwargs["id"] = aggregate_id
            cls.__init__(aggregate, **kwargs)
            event.apply(aggregate)
            aggregate._pending_events.append(event)
            return cast(A, aggregate)
    return _create(cls, event_class, aggregate_id, fields)


def _create(cls: type[A], event_class: type[Any], aggregate_id: UUID, fields: dict[str, Any]) -> A:
    """``create`` for any pair of classes, checked on each call."""
    if getattr(cls, "TOPIC", None):
        return cls._create(event_class, id=aggregate_id, **fields)
    topic = _topics.get(cls)
    if topic is None:
        topic = _topics[cls] = get_topic(cls)
    values = {
        **fields,
        "originator_topic": topic,
        "originator_id": aggregate_id,
        "originator_version": cls.INITIAL_VERSION,
    }
    if values.get("timestamp") is None:
        values["timestamp"] = event_class.create_timestamp()
    event = _new_event(event_class, values)
    if event_class.mutate is not _PLAIN_INIT_MUTATE:
        aggregate = event.mutate(None)
    else:
        aggregate = _initialise(event)
    aggregate._pending_events.append(event)
    return cast(A, aggregate)


def replay(events: Iterable[Any]) -> Any:
    """The aggregate that ``events`` build (``None`` for none), as ``mutate`` would.

    Each event is checked to follow the one before (same id, next version),
    exactly as eventsourcing's ``mutate`` checks; events of classes with their
    own ``mutate`` use it.
    """
    aggregate = None
    for event in events:
        cls = type(event)
        if aggregate is None and cls.mutate is _PLAIN_INIT_MUTATE:
            aggregate = _initialise(event)
        else:
            aggregate = event.mutate(aggregate)
    return aggregate


def copy_aggregate(aggregate: Any) -> Any:
    """Another aggregate in the same state, with no pending events.

    Shallow: attribute values are shared, which is safe because the domain
    replaces attributes and never changes a value in place.
    """
    copy = object.__new__(type(aggregate))
    copy.__dict__.update(aggregate.__dict__)
    copy._pending_events = []
    return copy
