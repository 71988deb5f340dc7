"""Encounter events to queue moves: who enters, leaves and comes back to which location.

A visit enters its point of care's queue when registered or admitted there
(A04, A01) or when a pre-admitted visit arrives; it moves on a transfer (A02)
or a class change that names a new point of care (A06/A07, and the admission
of an emergency or outpatient visit by A01/A06: it leaves the ED's queue
for the ward's), leaves on
discharge (A03) or cancelled admission (A11), comes back on a cancelled
discharge (A13), and goes back to where it was on a cancelled transfer (A12),
with the wait it had there. A pre-admission (A05) and updates (A08) move no
one. Which visits queue at all is configuration (``rules.py``: by default
emergency and outpatient visits; an admitted inpatient leaves the queue). A
call (``Encounter.Called``) ends the wait: the patient is "being seen" at the
location until the visit moves or ends. Handlers read only the event, the view
and the rules: no clock, so a replay with the same rules rebuilds the same queues.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.domain.encounter import CANCELLED, FINISHED, IN_PROGRESS, PLANNED, Encounter
from engine.domain.patient import Patient
from projections.dispatch import DispatchingProjection, handles
from projections.queue.rules import QueueRules, queue_rules
from projections.queue.view import QueueStay, QueueView, QueueVisit
from projections.texts import id_text
from projections.topics import VISIT_TOPICS

__all__ = ["QueueProjection", "priority_of"]

# PV2-25 visit priority (HL7 table 0217: 1 emergency, 2 urgent, 3 elective) and
# PV1-4 admission type (table 0007: E emergency, U urgent, R routine, C elective...).
_PV2_25_RANK = {"1": 0, "2": 1}
_PV1_4_RANK = {"E": 0, "U": 1}
REST = 2


def priority_of(priority: str, admission_type: str) -> tuple[str, int]:
    """The code a visit is ordered by and its rank (0 emergency, 1 urgent, 2 the rest).

    PV2-25 wins when the feed sent it; feeds that put table 0007 letters there
    (E, U) are read the same way. Otherwise PV1-4 decides.
    """
    code = priority.strip().upper()
    if code:
        return code, _PV2_25_RANK.get(code, _PV1_4_RANK.get(code, REST))
    code = admission_type.strip().upper()
    return code, _PV1_4_RANK.get(code, REST)


class QueueProjection(DispatchingProjection[QueueView]):
    """Maintains ``queue_v2``; bump the suffix to rebuild beside the old tables."""

    name = "queue_v2"
    topics = (*VISIT_TOPICS, get_topic(Encounter.Called))

    def __init__(self, view: QueueView, rules: QueueRules | None = None) -> None:
        super().__init__(view)
        self.rules = rules if rules is not None else queue_rules()

    @handles(Encounter.Started)
    def _started(self, event: Encounter.Started, tracking: Tracking) -> None:
        code, rank = priority_of(event.priority, event.admission_type)
        planned = isinstance(event, Encounter.PreAdmitted)
        visit = QueueVisit(
            encounter_id=id_text(event.originator_id),
            patient_id=id_text(event.patient_id),
            visit_number=event.visit_number.value if event.visit_number else "",
            priority=code,
            rank=rank,
            location=event.location.point_of_care,
            present=False,
            entered_at=None,
            stay_seq=0,
            status=PLANNED if planned else IN_PROGRESS,
            patient_class=event.patient_class,
        )
        if planned:  # nobody is there yet
            self.view.save_visit(visit, (), (), tracking)
            return
        self._enter(visit, visit.location, event.occurred_at, tracking)

    @handles(Encounter.Arrived)
    def _arrived(self, event: Encounter.Arrived, tracking: Tracking) -> None:
        visit = self._visit(event, tracking)
        if visit is None:
            return
        location = event.location.point_of_care or visit.location
        visit = replace(
            visit, status=IN_PROGRESS, patient_class=event.patient_class or visit.patient_class
        )
        self._enter(visit, location, event.occurred_at, tracking)

    @handles(Encounter.Transferred, Encounter.ClassChanged, Encounter.InpatientAdmitted)
    def _moved(
        self,
        event: Encounter.Transferred | Encounter.ClassChanged | Encounter.InpatientAdmitted,
        tracking: Tracking,
    ) -> None:
        visit = self._visit(event, tracking)
        if visit is not None:
            cause = "transferred" if isinstance(event, Encounter.Transferred) else "class-changed"
            if isinstance(event, Encounter.InpatientAdmitted):
                cause = "admitted"
            if not isinstance(event, Encounter.Transferred):
                visit = replace(visit, patient_class=event.patient_class)
            self._move(visit, event.location.point_of_care, event.occurred_at, cause, tracking)

    @handles(Encounter.TransferCancelled)
    def _transfer_cancelled(self, event: Encounter.TransferCancelled, tracking: Tracking) -> None:
        visit = self._visit(event, tracking)
        if visit is None:
            return
        back = event.location.point_of_care
        if not visit.present or back == visit.location:
            self.view.save_visit(visit, (), (), tracking)  # a bed move within one queue
            return
        before = self.view.stay(visit.encounter_id, visit.stay_seq - 1)
        if before is not None and before.location == back and before.left_by == "transferred":
            # The transfer never happened: the stay it made goes, the one it ended reopens.
            reopened = replace(before, left_at=None, wait_seconds=None, left_by="")
            restored = replace(
                visit, location=back, entered_at=before.entered_at, stay_seq=before.seq
            )
            self.view.save_visit(restored, (reopened,), (visit.stay_seq,), tracking)
            return
        self._move(visit, back, event.occurred_at, "transfer-cancelled", tracking)

    @handles(Encounter.Discharged)
    def _discharged(self, event: Encounter.Discharged, tracking: Tracking) -> None:
        visit = self._visit(event, tracking)
        if visit is not None:
            self._leave(visit, FINISHED, event.occurred_at, "discharged", tracking)

    @handles(Encounter.AdmissionCancelled)
    def _admission_cancelled(self, event: Encounter.AdmissionCancelled, tracking: Tracking) -> None:
        visit = self._visit(event, tracking)
        if visit is not None:
            self._leave(visit, CANCELLED, event.occurred_at, "cancelled", tracking)

    @handles(Encounter.DischargeCancelled)
    def _discharge_cancelled(self, event: Encounter.DischargeCancelled, tracking: Tracking) -> None:
        visit = self._visit(event, tracking)
        if visit is None:
            return
        last = self.view.stay(visit.encounter_id, visit.stay_seq)
        if last is not None and last.left_by == "called" and last.location == visit.location:
            # Discharged while being seen: the call comes back with the visit.
            self.view.save_visit(replace(visit, status=IN_PROGRESS, seen=True), (), (), tracking)
            return
        if last is None or last.left_by != "discharged":
            self.view.save_visit(replace(visit, status=IN_PROGRESS), (), (), tracking)
            return
        # Back in the queue with the wait it had: the discharge was a mistake.
        reopened = replace(last, left_at=None, wait_seconds=None, left_by="")
        back = replace(visit, status=IN_PROGRESS, present=True, entered_at=last.entered_at)
        self.view.save_visit(back, (reopened,), (), tracking)

    @handles(Encounter.Called)
    def _called(self, event: Encounter.Called, tracking: Tracking) -> None:
        visit = self._visit(event, tracking)
        if visit is None:
            return
        closed = self._close(visit, event.occurred_at, "called")
        called = replace(
            visit,
            present=False,
            seen=True,
            room=event.room,
            called_at=event.occurred_at,
            called_by=event.called_by,
        )
        self.view.save_visit(called, closed, (), tracking)

    @handles(Patient.Merged)
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.merge_patient(id_text(event.originator_id), id_text(event.survivor_id), tracking)

    # Helpers ----------------------------------------------------------------

    def _visit(self, event: Any, tracking: Tracking) -> QueueVisit | None:
        visit = self.view.visit(id_text(event.originator_id))
        if visit is None:  # the visit's opening event is not in this history
            self.view.insert_tracking(tracking)
        return visit

    def _enter(self, visit: QueueVisit, location: str, when: datetime, tracking: Tracking) -> None:
        visit = replace(visit, seen=False)
        if not self.rules.queues(visit.patient_class, location):  # no queue there for it
            self.view.save_visit(replace(visit, location=location, present=False), (), (), tracking)
            return
        seq = visit.stay_seq + 1
        stay = QueueStay(visit.encounter_id, seq, location, when)
        entered = replace(visit, location=location, present=True, entered_at=when, stay_seq=seq)
        self.view.save_visit(entered, (stay,), (), tracking)

    def _close(self, visit: QueueVisit, when: datetime, left_by: str) -> list[QueueStay]:
        if not visit.present or visit.entered_at is None:
            return []
        # The visit row mirrors its open stay, so the stay need not be read back.
        wait = max((when - visit.entered_at).total_seconds(), 0.0)
        stay = QueueStay(visit.encounter_id, visit.stay_seq, visit.location, visit.entered_at)
        return [replace(stay, left_at=when, wait_seconds=wait, left_by=left_by)]

    def _move(
        self, visit: QueueVisit, location: str, when: datetime, cause: str, tracking: Tracking
    ) -> None:
        target = location or visit.location  # no point of care sent: it stays where it is
        if visit.status != IN_PROGRESS:
            self.view.save_visit(replace(visit, location=target), (), (), tracking)
            return
        queues = self.rules.queues(visit.patient_class, target)
        if target == visit.location and queues and (visit.present or visit.seen):
            self.view.save_visit(visit, (), (), tracking)  # same queue (a bed move), same state
            return
        if not visit.present and not queues:
            self.view.save_visit(replace(visit, location=target, seen=False), (), (), tracking)
            return
        closed = self._close(visit, when, cause)
        if not queues:  # it leaves the queue for a place (or a class) that is not one
            left = replace(visit, location=target, present=False, seen=False)
            self.view.save_visit(left, closed, (), tracking)
            return
        seq = visit.stay_seq + 1
        stay = QueueStay(visit.encounter_id, seq, target, when)
        moved = replace(
            visit, location=target, present=True, seen=False, entered_at=when, stay_seq=seq
        )
        self.view.save_visit(moved, (*closed, stay), (), tracking)

    def _leave(
        self, visit: QueueVisit, status: str, when: datetime, cause: str, tracking: Tracking
    ) -> None:
        closed = self._close(visit, when, cause)
        left = replace(visit, status=status, present=False, seen=False)
        self.view.save_visit(left, closed, (), tracking)
