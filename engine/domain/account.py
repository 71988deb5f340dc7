"""The Account aggregate: a billing account (PID-18 or FT1) and its financial transactions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from engine.domain.values import FinancialTransaction

__all__ = ["Account"]


class Account(Aggregate):
    """A patient account number as the billing system knows it."""

    class Opened(Aggregate.Created):
        """Emitted with the account's first transaction."""

        account_number: str
        patient_id: UUID
        occurred_at: datetime
        source_message_id: UUID

    class ChargePosted(Aggregate.Event):
        """Emitted per FT1 charge (CG, or a type outside table 0017) that adds to the account.

        Events stored before PaymentPosted and AdjustmentPosted existed also carry
        PY and AJ transactions: read models classify by ``transaction.transaction_type``.
        """

        encounter_id: UUID | None
        visit_number: str
        transaction: FinancialTransaction
        occurred_at: datetime
        source_message_id: UUID

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 (before visit numbers were kept) had no ``visit_number``."""
            state["visit_number"] = ""

    class ChargeCredited(Aggregate.Event):
        """Emitted per FT1 that reverses a charge (credit CD, or a negative quantity/amount)."""

        encounter_id: UUID | None
        visit_number: str
        transaction: FinancialTransaction
        occurred_at: datetime
        source_message_id: UUID

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 (before visit numbers were kept) had no ``visit_number``."""
            state["visit_number"] = ""

    class PaymentPosted(Aggregate.Event):
        """Emitted per FT1 payment (PY); a negative quantity or amount reverses a payment."""

        encounter_id: UUID | None
        visit_number: str
        transaction: FinancialTransaction
        occurred_at: datetime
        source_message_id: UUID

    class AdjustmentPosted(Aggregate.Event):
        """Emitted per FT1 adjustment (AJ); the amount's sign says which way the balance moves."""

        encounter_id: UUID | None
        visit_number: str
        transaction: FinancialTransaction
        occurred_at: datetime
        source_message_id: UUID

    def __init__(
        self, account_number: str, patient_id: UUID, occurred_at: datetime, source_message_id: UUID
    ) -> None:
        self.account_number = account_number
        self.patient_id = patient_id
        self.transactions = 0

    @classmethod
    def open(
        cls,
        account_id: UUID,
        *,
        account_number: str,
        patient_id: UUID,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> Account:
        """A new account, opened by the message that first names it."""
        return cls._create(
            cls.Opened,
            id=account_id,
            account_number=account_number,
            patient_id=patient_id,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )

    def post(
        self,
        transaction: FinancialTransaction,
        *,
        encounter_id: UUID | None,
        occurred_at: datetime,
        source_message_id: UUID,
        visit_number: str = "",
    ) -> None:
        """Records one FT1 by its type (HL7 table 0017).

        PY is a payment and AJ an adjustment, whatever their sign; CD, or a CG
        with a negative quantity or amount, is a credit (a reversal); anything
        else is a charge.
        """
        kind = transaction.transaction_type.upper()
        if kind == "PY":
            self._paid(encounter_id, visit_number, transaction, occurred_at, source_message_id)
            return
        if kind == "AJ":
            self._adjusted(encounter_id, visit_number, transaction, occurred_at, source_message_id)
            return
        amount = transaction.extended_amount.amount if transaction.extended_amount else None
        if (
            kind == "CD"
            or transaction.quantity < 0
            or (amount is not None and amount < 0 and kind == "CG")
        ):
            self._credited(encounter_id, visit_number, transaction, occurred_at, source_message_id)
        else:
            self._posted(encounter_id, visit_number, transaction, occurred_at, source_message_id)

    @event(ChargePosted)
    def _posted(
        self,
        encounter_id: UUID | None,
        visit_number: str,
        transaction: FinancialTransaction,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.transactions += 1

    @event(ChargeCredited)
    def _credited(
        self,
        encounter_id: UUID | None,
        visit_number: str,
        transaction: FinancialTransaction,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.transactions += 1

    @event(PaymentPosted)
    def _paid(
        self,
        encounter_id: UUID | None,
        visit_number: str,
        transaction: FinancialTransaction,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.transactions += 1

    @event(AdjustmentPosted)
    def _adjusted(
        self,
        encounter_id: UUID | None,
        visit_number: str,
        transaction: FinancialTransaction,
        occurred_at: datetime,
        source_message_id: UUID,
    ) -> None:
        self.transactions += 1
