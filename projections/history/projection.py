"""Events to patient history rows: every Patient, Encounter, LabReport, Account and
Appointment event.

Handlers read only the event (the view resolves an encounter's, report's or
account's patient from the link its creation event recorded), so a replay
from position 0 rebuilds the same rows. Summaries stay short: an authorised
audit view, but names and MRNs are not repeated here.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.domain.account import Account
from engine.domain.appointment import Appointment
from engine.domain.encounter import Encounter
from engine.domain.message import InboundMessage
from engine.domain.patient import Patient
from engine.domain.report import LabReport
from projections.dispatch import DispatchingProjection, handles
from projections.history.view import HistoryEntry, HistoryView, MessageInfo, utc_text
from projections.texts import id_text

__all__ = ["HistoryProjection"]

_AGGREGATES = (Patient, Encounter, LabReport, Account, Appointment)


def _event_classes(aggregate: type) -> list[type]:
    """The stored event classes nested in ``aggregate`` (not its Event/Created bases)."""
    return [
        v
        for k, v in vars(aggregate).items()
        if isinstance(v, type) and issubclass(v, DomainEvent) and k not in ("Event", "Created")
    ]


def _topics() -> tuple[str, ...]:
    classes = [c for a in _AGGREGATES for c in _event_classes(a)]
    return (get_topic(InboundMessage.Received), *sorted(get_topic(c) for c in classes))


def _entry(event: Any, tracking: Tracking, summary: str) -> HistoryEntry:
    occurred = getattr(event, "occurred_at", None) or event.timestamp
    source = getattr(event, "source_message_id", None)
    return HistoryEntry(
        notification_id=tracking.notification_id,
        event_type=type(event).__qualname__,
        aggregate_id=id_text(event.originator_id),
        aggregate_version=int(event.originator_version),
        occurred_at=utc_text(occurred),
        recorded_at=utc_text(event.timestamp),
        source_message_id=id_text(source) if source is not None else "",
        summary=summary,
    )


def _place(location: Any) -> str:
    parts = [location.point_of_care, location.room, location.bed] if location else []
    return "^".join(parts).rstrip("^") or "-"


def _summary(event: Any) -> str:
    """A few words on what happened, without names or identifiers' values."""
    if isinstance(event, Encounter.InpatientAdmitted):
        return f"admitted as inpatient at {_place(event.location)}"
    if isinstance(event, Encounter.Started | Encounter.Arrived | Encounter.ClassChanged):
        return f"class {event.patient_class or '-'} at {_place(event.location)}"
    if isinstance(event, Encounter.Transferred):
        return f"{_place(event.prior_location)} -> {_place(event.location)}"
    if isinstance(event, Encounter.TransferCancelled):
        return f"back to {_place(event.location)}"
    if isinstance(event, Encounter.Called):
        return f"called from {event.point_of_care or '-'} to {event.room}"
    if isinstance(event, Appointment.Booked | Appointment.Changed):
        details = event.details
        start = utc_text(details.start) if details.start else "-"
        return f"at {_place(details.location)} from {start}"
    if isinstance(event, Patient.DemographicsUpdated | Encounter.DetailsUpdated) and event.cleared:
        return f"deleted: {', '.join(event.cleared)}"
    if isinstance(event, Patient.IdentifierAdded):
        return f"identifier from {event.identifier.authority or '-'}"
    if isinstance(event, Patient.Absorbed):
        return f"merged in another record, {len(event.identifiers)} identifier(s) taken over"
    if isinstance(event, LabReport.Reported | LabReport.Updated):
        return f"status {event.status or '-'}, {len(event.observations)} observation(s)"
    if isinstance(event, Account.ChargePosted | Account.ChargeCredited):
        t = event.transaction
        amount = t.extended_amount
        money = f" {amount.amount} {amount.currency}".rstrip() if amount else ""
        return f"{t.transaction_type} {t.code.code}{money}".strip()
    return ""


class HistoryProjection(DispatchingProjection[HistoryView]):
    """Maintains ``history_v1``; bump the suffix to rebuild beside the old tables."""

    name = "history_v1"
    topics = _topics()

    @handles(InboundMessage.Received)
    def _message(self, event: InboundMessage.Received, tracking: Tracking) -> None:
        self.view.record_message(
            MessageInfo(
                message_id=id_text(event.originator_id),
                control_id=event.control_id,
                message_type=event.message_type,
                sending_application=event.sending_application,
                sending_facility=event.sending_facility,
                recorded_at=utc_text(event.timestamp),
            ),
            tracking,
        )

    @handles(Patient.Event)
    def _patient(self, event: Patient.Event, tracking: Tracking) -> None:
        entry = _entry(event, tracking, _summary(event))
        self.view.record_event(entry, id_text(event.originator_id), False, tracking)

    @handles(Patient.Merged)
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        entry = _entry(event, tracking, f"merged into {event.survivor_id}")
        self.view.record_merge(entry, id_text(event.survivor_id), tracking)

    @handles(Encounter.Started)
    def _started(self, event: Encounter.Started, tracking: Tracking) -> None:
        self._created(event, tracking)

    @handles(LabReport.Reported)
    def _reported(self, event: LabReport.Reported, tracking: Tracking) -> None:
        self._created(event, tracking)

    @handles(Appointment.Booked)
    def _booked(self, event: Appointment.Booked, tracking: Tracking) -> None:
        self._created(event, tracking)

    @handles(Account.Opened)
    def _opened(self, event: Account.Opened, tracking: Tracking) -> None:
        entry = _entry(event, tracking, f"account {event.account_number}")
        self.view.record_event(entry, id_text(event.patient_id), True, tracking)

    def _created(self, event: Any, tracking: Tracking) -> None:
        entry = _entry(event, tracking, _summary(event))
        self.view.record_event(entry, id_text(event.patient_id), True, tracking)

    @handles(Encounter.Event)
    def _encounter(self, event: Encounter.Event, tracking: Tracking) -> None:
        self.view.record_event(_entry(event, tracking, _summary(event)), None, False, tracking)

    @handles(LabReport.Event)
    def _report(self, event: LabReport.Event, tracking: Tracking) -> None:
        self.view.record_event(_entry(event, tracking, _summary(event)), None, False, tracking)

    @handles(Account.Event)
    def _account(self, event: Account.Event, tracking: Tracking) -> None:
        self.view.record_event(_entry(event, tracking, _summary(event)), None, False, tracking)

    @handles(Appointment.Event)
    def _appointment(self, event: Appointment.Event, tracking: Tracking) -> None:
        self.view.record_event(_entry(event, tracking, _summary(event)), None, False, tracking)
