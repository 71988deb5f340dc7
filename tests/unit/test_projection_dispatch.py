"""Projections route events by class through a dict (projections.dispatch), like singledispatch."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from projections.dispatch import DispatchingProjection, handles


class Base:
    pass


class Child(Base):
    pass


class GrandChild(Child):
    pass


class Other:
    pass


class _View:
    def __init__(self) -> None:
        self.tracked: list[int] = []

    def insert_tracking(self, tracking: Tracking) -> None:
        self.tracked.append(tracking.notification_id)


class Recording(DispatchingProjection[Any]):
    name = "recording_v1"

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self.calls: list[str] = []

    @handles(Base)
    def _base(self, event: Base, tracking: Tracking) -> None:
        self.calls.append("base")

    @handles(Child)
    def _child(self, event: Child, tracking: Tracking) -> None:
        self.calls.append("child")


class Overriding(Recording):
    name = "overriding_v1"

    @handles(Child)
    def _child_again(self, event: Child, tracking: Tracking) -> None:
        self.calls.append("overridden")


def _run(projection: Recording, *events: Any) -> list[str]:
    for n, event in enumerate(events, 1):
        projection.process_event(event, Tracking("app", n))
    return projection.calls


def test_the_most_specific_handler_in_the_event_class_mro_wins() -> None:
    projection = Recording(_View())
    assert _run(projection, Base(), Child(), GrandChild(), GrandChild()) == [
        "base",
        "child",
        "child",
        "child",
    ]


def test_an_event_without_a_handler_only_moves_the_position() -> None:
    view = _View()
    projection = Recording(view)
    assert _run(projection, Other(), Base()) == ["base"]
    assert view.tracked == [1]


def test_a_subclass_handler_replaces_its_parent_for_that_class_only() -> None:
    assert _run(Overriding(_View()), Child(), Base()) == ["overridden", "base"]
    assert _run(Recording(_View()), Child()) == ["child"]  # the parent is unchanged


def test_handles_needs_an_event_class() -> None:
    with pytest.raises(TypeError):
        handles()
