"""Account events to billing rows: one handler per event, one view call each.

Handlers read only the event and write only through the view (no clock, no
repository, no network), so a replay from position 0 rebuilds the same rows.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from engine.domain.account import Account
from engine.domain.patient import Patient
from projections.billing.view import AccountRecord, BillingView, line_from_transaction

__all__ = ["BillingProjection"]


class BillingProjection(Projection[BillingView]):
    """Maintains ``billing_*_v1``; bump the suffix to rebuild beside the old tables."""

    name = "billing_v1"
    topics = (
        get_topic(Account.Opened),
        get_topic(Account.ChargePosted),
        get_topic(Account.ChargeCredited),
        get_topic(Account.PaymentPosted),
        get_topic(Account.AdjustmentPosted),
        get_topic(Patient.Merged),
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        # Unknown events still move the position, so catch-up never stalls on them.
        self.view.insert_tracking(tracking)

    @process_event.register
    def _opened(self, event: Account.Opened, tracking: Tracking) -> None:
        self.view.open_account(
            AccountRecord(
                account_id=str(event.originator_id),
                account_number=event.account_number,
                patient_id=str(event.patient_id),
                opened_at=event.occurred_at,
                source_message_id=str(event.source_message_id),
            ),
            tracking,
        )

    def _line(self, event: Any, tracking: Tracking, *, credited: bool) -> None:
        self.view.add_line(
            line_from_transaction(
                account_id=str(event.originator_id),
                seq=event.originator_version,
                encounter_id=str(event.encounter_id) if event.encounter_id else "",
                visit_number=event.visit_number,
                transaction=event.transaction,
                credited=credited,
                occurred_at=event.occurred_at,
                source_message_id=str(event.source_message_id),
            ),
            tracking,
        )

    @process_event.register
    def _posted(self, event: Account.ChargePosted, tracking: Tracking) -> None:
        self._line(event, tracking, credited=False)

    @process_event.register
    def _credited(self, event: Account.ChargeCredited, tracking: Tracking) -> None:
        self._line(event, tracking, credited=True)

    @process_event.register
    def _paid(self, event: Account.PaymentPosted, tracking: Tracking) -> None:
        self._line(event, tracking, credited=False)

    @process_event.register
    def _adjusted(self, event: Account.AdjustmentPosted, tracking: Tracking) -> None:
        self._line(event, tracking, credited=False)

    @process_event.register
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.record_merge(str(event.originator_id), str(event.survivor_id), tracking)
