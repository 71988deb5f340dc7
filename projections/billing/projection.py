"""Account events to billing rows: one handler per event, one view call each.

Handlers read only the event and write only through the view (no clock, no
repository, no network), so a replay from position 0 rebuilds the same rows.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from engine.domain.account import Account
from engine.domain.patient import Patient
from projections.billing.view import AccountRecord, BillingView, line_from_transaction
from projections.dispatch import DispatchingProjection, handles
from projections.texts import id_text

__all__ = ["BillingProjection"]


class BillingProjection(DispatchingProjection[BillingView]):
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

    @handles(Account.Opened)
    def _opened(self, event: Account.Opened, tracking: Tracking) -> None:
        self.view.open_account(
            AccountRecord(
                account_id=id_text(event.originator_id),
                account_number=event.account_number,
                patient_id=id_text(event.patient_id),
                opened_at=event.occurred_at,
                source_message_id=id_text(event.source_message_id),
            ),
            tracking,
        )

    def _line(self, event: Any, tracking: Tracking, *, credited: bool) -> None:
        self.view.add_line(
            line_from_transaction(
                account_id=id_text(event.originator_id),
                seq=event.originator_version,
                encounter_id=id_text(event.encounter_id) if event.encounter_id else "",
                visit_number=event.visit_number,
                transaction=event.transaction,
                credited=credited,
                occurred_at=event.occurred_at,
                source_message_id=id_text(event.source_message_id),
            ),
            tracking,
        )

    @handles(Account.ChargePosted)
    def _posted(self, event: Account.ChargePosted, tracking: Tracking) -> None:
        self._line(event, tracking, credited=False)

    @handles(Account.ChargeCredited)
    def _credited(self, event: Account.ChargeCredited, tracking: Tracking) -> None:
        self._line(event, tracking, credited=True)

    @handles(Account.PaymentPosted)
    def _paid(self, event: Account.PaymentPosted, tracking: Tracking) -> None:
        self._line(event, tracking, credited=False)

    @handles(Account.AdjustmentPosted)
    def _adjusted(self, event: Account.AdjustmentPosted, tracking: Tracking) -> None:
        self._line(event, tracking, credited=False)

    @handles(Patient.Merged)
    def _merged(self, event: Patient.Merged, tracking: Tracking) -> None:
        self.view.record_merge(id_text(event.originator_id), id_text(event.survivor_id), tracking)
