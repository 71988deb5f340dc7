"""Which visits queue: the settings that say it, and the rules they make."""

from __future__ import annotations

import pytest

from engine.config import Settings
from engine.errors import ConfigError
from projections.queue.rules import QueueRules


def test_by_default_emergency_and_outpatient_visits_queue_anywhere() -> None:
    s = Settings.from_env({})
    assert (s.queue_classes, s.queue_locations) == (frozenset({"E", "O"}), ())
    rules = QueueRules(s.queue_classes, s.queue_locations)
    assert rules.queues("E", "ED") and rules.queues("o", "CLINIC")
    assert not rules.queues("I", "WARD1")  # an inpatient ward is not a waiting room
    assert not rules.queues("", "ED")  # no class sent: not unless "-" is listed
    assert not rules.queues("E", "")  # no point of care: no queue


def test_classes_and_location_patterns_come_from_the_environment() -> None:
    s = Settings.from_env(
        {"CARELOG_QUEUE_CLASSES": "e, o ,-", "CARELOG_QUEUE_LOCATIONS": "ED, CLINIC-*"}
    )
    assert s.queue_classes == frozenset({"E", "O", "-"})
    assert s.queue_locations == ("ED", "CLINIC-*")
    rules = QueueRules(s.queue_classes, s.queue_locations)
    assert rules.queues("", "ED") and rules.queues("O", "CLINIC-EYE")
    assert not rules.queues("O", "LAB") and not rules.queues("O", "clinic-eye")
    anyone = QueueRules(frozenset({"*"}))
    assert anyone.queues("I", "WARD1") and anyone.queues("", "X")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CARELOG_QUEUE_CLASSES", ""),
        ("CARELOG_QUEUE_CLASSES", " , "),
        ("CARELOG_QUEUE_CLASSES", "E;O"),
        ("CARELOG_QUEUE_LOCATIONS", ","),
        ("CARELOG_QUEUE_LOCATIONS", "ED,\x01"),
    ],
)
def test_a_malformed_queue_setting_names_its_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Settings.from_env({key: value})
