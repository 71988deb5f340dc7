"""Every read model carelog maintains, and how to build its view on each backend.

The composition root (``adapters/bootstrap.py``), ``carelog replay`` and the
Kafka workers all take their list of projections from ``CATALOG``, so a new
read model is added here once and is then built live, replayed and served by
workers without further wiring. Views are classes, not instances: which
backend's class is used, and with which connection settings, is decided by
the composition root from Settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteTrackingRecorder

from projections.appointments import (
    APPOINTMENT_TABLES,
    AppointmentProjection,
    MemoryAppointmentView,
    PostgresAppointmentView,
    SQLiteAppointmentView,
)
from projections.billing import (
    BillingProjection,
    MemoryBillingView,
    PostgresBillingView,
    SQLiteBillingView,
)
from projections.billing.sql import BILLING_TABLES
from projections.encounters import (
    ENCOUNTER_TABLES,
    EncounterProjection,
    MemoryEncounterView,
    PostgresEncounterView,
    SQLiteEncounterView,
)
from projections.history import (
    HISTORY_TABLES,
    HistoryProjection,
    MemoryHistoryView,
    PostgresHistoryView,
    SQLiteHistoryView,
)
from projections.messages import (
    MESSAGE_TABLES,
    MemoryMessageLogView,
    MessageLogProjection,
    PostgresMessageLogView,
    SQLiteMessageLogView,
)
from projections.observations import (
    MemoryObservationView,
    ObservationProjection,
    PostgresObservationView,
    SQLiteObservationView,
)
from projections.observations.sql import OBSERVATION_TABLES
from projections.patients import (
    MemoryPatientView,
    PatientProjection,
    PostgresPatientView,
    SQLitePatientView,
)
from projections.patients.sql import PATIENT_TABLES
from projections.queue import (
    QUEUE_TABLES,
    MemoryQueueView,
    PostgresQueueView,
    QueueProjection,
    SQLiteQueueView,
)

__all__ = ["CATALOG", "ProjectionSpec", "spec_for"]


@dataclass(frozen=True)
class ProjectionSpec:
    """One read model: its projection and its view class per backend.

    ``key`` is the short name used on the command line (``carelog replay
    --projection patients``) and by HTTP handlers to find the view; the
    projection's versioned ``name`` (``patients_v1``) names its tables and its
    tracking table. ``tables`` lists those tables, children first, so that a
    rebuild can drop them in order.
    """

    key: str
    projection: type[Projection[Any]]
    memory: Callable[[], TrackingRecorder]
    sqlite: type[SQLiteTrackingRecorder]
    postgres: type[PostgresTrackingRecorder]
    tables: tuple[str, ...]

    @property
    def name(self) -> str:
        """The projection's versioned name (``patients_v1``)."""
        return str(self.projection.name)

    def project(self, view: TrackingRecorder) -> Projection[Any]:
        """The projection writing into ``view``."""
        return self.projection(view)


CATALOG: tuple[ProjectionSpec, ...] = (
    ProjectionSpec(
        key="patients",
        projection=PatientProjection,
        memory=MemoryPatientView,
        sqlite=SQLitePatientView,
        postgres=PostgresPatientView,
        tables=PATIENT_TABLES,
    ),
    ProjectionSpec(
        key="billing",
        projection=BillingProjection,
        memory=MemoryBillingView,
        sqlite=SQLiteBillingView,
        postgres=PostgresBillingView,
        tables=BILLING_TABLES,
    ),
    ProjectionSpec(
        key="observations",
        projection=ObservationProjection,
        memory=MemoryObservationView,
        sqlite=SQLiteObservationView,
        postgres=PostgresObservationView,
        tables=OBSERVATION_TABLES,
    ),
    ProjectionSpec(
        key="encounters",
        projection=EncounterProjection,
        memory=MemoryEncounterView,
        sqlite=SQLiteEncounterView,
        postgres=PostgresEncounterView,
        tables=ENCOUNTER_TABLES,
    ),
    ProjectionSpec(
        key="queue",
        projection=QueueProjection,
        memory=MemoryQueueView,
        sqlite=SQLiteQueueView,
        postgres=PostgresQueueView,
        tables=QUEUE_TABLES,
    ),
    ProjectionSpec(
        key="history",
        projection=HistoryProjection,
        memory=MemoryHistoryView,
        sqlite=SQLiteHistoryView,
        postgres=PostgresHistoryView,
        tables=HISTORY_TABLES,
    ),
    ProjectionSpec(
        key="messages",
        projection=MessageLogProjection,
        memory=MemoryMessageLogView,
        sqlite=SQLiteMessageLogView,
        postgres=PostgresMessageLogView,
        tables=MESSAGE_TABLES,
    ),
    ProjectionSpec(
        key="appointments",
        projection=AppointmentProjection,
        memory=MemoryAppointmentView,
        sqlite=SQLiteAppointmentView,
        postgres=PostgresAppointmentView,
        tables=APPOINTMENT_TABLES,
    ),
)
"""The read models, in the order they are caught up."""


def spec_for(key: str) -> ProjectionSpec:
    """The spec named ``key`` (or by its versioned name).

    Raises:
        KeyError: no such projection; the message lists the known ones.
    """
    for spec in CATALOG:
        if key in (spec.key, spec.name):
            return spec
    known = ", ".join(s.key for s in CATALOG)
    raise KeyError(f"no projection named {key!r} (known: {known})")
