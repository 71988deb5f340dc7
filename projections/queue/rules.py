"""Which visits form queues: patient classes and point-of-care patterns (configuration).

An inpatient ward is not a waiting room: by default only emergency (E) and
outpatient (O) visits queue (``CARELOG_QUEUE_CLASSES``), at every point of
care or at those matching ``CARELOG_QUEUE_LOCATIONS`` (shell-style patterns,
``ED*,CLINIC-?``). The rules are part of what the queue read model is a
function of: change them and rebuild it (``carelog replay --projection
queue``) to see the history through the new rules.

The composition root sets the rules once per process (``configure_queues``)
before it builds projections; a projection takes them when it is created,
so every process that builds the queue (server, replay, Kafka worker, replay
worker processes) must be configured from the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["DEFAULT_QUEUE_CLASSES", "QueueRules", "configure_queues", "queue_rules"]

DEFAULT_QUEUE_CLASSES = frozenset({"E", "O"})
ANY_CLASS = "*"


@dataclass(frozen=True, slots=True)
class QueueRules:
    """``classes``: PV1-2 codes that queue (``*`` any, ``-`` a visit sent without one);
    ``locations``: patterns of PV1-3.1 that are queues (empty: every point of care)."""

    classes: frozenset[str] = DEFAULT_QUEUE_CLASSES
    locations: tuple[str, ...] = ()

    def queues(self, patient_class: str, location: str) -> bool:
        """Whether a visit of ``patient_class`` at ``location`` waits in that location's queue."""
        if not location:
            return False
        code = patient_class.strip().upper() or "-"
        if ANY_CLASS not in self.classes and code not in self.classes:
            return False
        return not self.locations or any(fnmatchcase(location, p) for p in self.locations)


_current = [QueueRules()]


def configure_queues(rules: QueueRules) -> None:
    """Sets this process's rules; call before the queue projection is built."""
    _current[0] = rules


def queue_rules() -> QueueRules:
    """This process's rules (the defaults until ``configure_queues``)."""
    return _current[0]
