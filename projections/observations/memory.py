"""The observation read model in memory, for unit tests and the ``memory:`` store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from eventsourcing.persistence import Tracking

from engine.domain.values import ObservationValue
from projections.batching import MemoryBatching
from projections.memory_tracking import MemoryTrackingRecorder
from projections.observations.view import (
    ObservationRow,
    ObservationView,
    ReportRecord,
    observation_key,
    observation_resource_id,
    typed_value,
)

__all__ = ["MemoryObservationView"]


class MemoryObservationView(MemoryBatching, ObservationView, MemoryTrackingRecorder):
    """Dicts guarded by the recorder's lock; tracking checked as in the SQL views."""

    def __init__(self) -> None:
        super().__init__()
        self._reports: dict[str, ReportRecord] = {}
        # report id -> key -> row; dicts keep first-arrival order, as the SQL ordinal does
        self._rows: dict[str, dict[tuple[str, str, str], ObservationRow]] = {}
        self._merges: dict[str, str] = {}
        self._ids: dict[str, tuple[str, tuple[str, str, str]]] = {}  # FHIR id -> report, key

    def _track(self, tracking: Tracking) -> None:
        self.check_tracking_is_new(tracking)
        self._insert_tracking(tracking)

    def add_report(
        self,
        report: ReportRecord,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
        tracking: Tracking,
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            self._reports.setdefault(
                report.report_id,
                replace(report, updated_at=updated_at, source_message_id=source_message_id),
            )
            self._put(report.report_id, observations, updated_at, source_message_id)

    def update_report(
        self,
        report_id: str,
        status: str,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
        tracking: Tracking,
    ) -> None:
        with self.database_lock:
            self._track(tracking)
            self._reports[report_id] = replace(
                self._reports[report_id],
                status=status,
                updated_at=updated_at,
                source_message_id=source_message_id,
            )
            self._put(report_id, observations, updated_at, source_message_id)

    def _put(
        self,
        report_id: str,
        observations: Sequence[ObservationValue],
        updated_at: datetime,
        source_message_id: str,
    ) -> None:
        rows = self._rows.setdefault(report_id, {})
        for o in observations:
            key = observation_key(o)
            self._ids[observation_resource_id(report_id, key)] = (report_id, key)
            old = rows.get(key)
            typed = typed_value(o.value_type, o.values)
            rows[key] = ObservationRow(
                report=self._reports[report_id],
                set_id=o.set_id,
                value_type=o.value_type,
                code=o.code,
                values=tuple(o.values),
                numeric=o.numeric,
                comparator=o.comparator,
                units=o.units,
                reference_range=o.reference_range,
                abnormal_flags=tuple(o.abnormal_flags),
                status=o.status,
                observed_at=o.observed_at,
                updated_at=updated_at,
                source_message_id=source_message_id,
                revision=0 if old is None else old.revision + 1,
                coded=typed.coded if typed.coded and typed.coded.code else None,
                sn_num1=typed.sn_num1,
                sn_separator=typed.sn_separator,
                sn_num2=typed.sn_num2,
            )

    def record_merge(self, retired_id: str, survivor_id: str, tracking: Tracking) -> None:
        with self.database_lock:
            self._track(tracking)
            self._merges[retired_id] = survivor_id

    def observations_of(self, patient_ids: Iterable[str]) -> list[ObservationRow]:
        ids = set(patient_ids)
        with self.database_lock:
            reports = sorted(
                (r for r in self._reports.values() if r.patient_id in ids),
                key=lambda r: (r.order_number, r.report_id),
            )
            out = []
            for report in reports:
                for row in self._rows.get(report.report_id, {}).values():
                    observed = row.observed_at or report.observed_at
                    out.append(replace(row, report=report, observed_at=observed))
            return out

    def observation(self, observation_id: str) -> ObservationRow | None:
        with self.database_lock:
            found = self._ids.get(observation_id)
            if found is None:
                return None
            report = self._reports[found[0]]
            row = self._rows[found[0]][found[1]]
            return replace(row, report=report, observed_at=row.observed_at or report.observed_at)

    def reports_of(self, patient_ids: Iterable[str]) -> list[ReportRecord]:
        ids = set(patient_ids)
        with self.database_lock:
            return sorted(
                (r for r in self._reports.values() if r.patient_id in ids),
                key=lambda r: (r.order_number, r.report_id),
            )

    def report(self, report_id: str) -> ReportRecord | None:
        with self.database_lock:
            return self._reports.get(report_id)

    def merges(self) -> dict[str, str]:
        with self.database_lock:
            return dict(self._merges)
