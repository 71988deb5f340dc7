"""The Account aggregate: a billing account (PID-18 or FT1) and its financial transactions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from engine.domain.lean import create
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

    class TransactionRecorded(Aggregate.Event):
        """Base of the events one FT1 transaction records; not emitted itself."""

        encounter_id: UUID | None
        visit_number: str
        transaction: FinancialTransaction
        occurred_at: datetime
        source_message_id: UUID

        def apply(self, aggregate: Account) -> None:
            aggregate.transactions += 1

    class _VisitNumberAdded(TransactionRecorded):
        """Base of the line events stored before visit numbers were kept (version 1)."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 (before visit numbers were kept) had no ``visit_number``."""
            state["visit_number"] = ""

    class ChargePosted(_VisitNumberAdded):
        """Emitted per FT1 charge (CG, or a type outside table 0017) that adds to the account.

        Events stored before PaymentPosted and AdjustmentPosted existed also carry
        PY and AJ transactions: read models classify by ``transaction.transaction_type``.
        """

    class ChargeCredited(_VisitNumberAdded):
        """Emitted per FT1 that reverses a charge (credit CD, or a negative quantity/amount)."""

    class PaymentPosted(TransactionRecorded):
        """Emitted per FT1 payment (PY); a negative quantity or amount reverses a payment."""

    class AdjustmentPosted(TransactionRecorded):
        """Emitted per FT1 adjustment (AJ); the amount's sign says which way the balance moves."""

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
        return create(
            cls,
            cls.Opened,
            account_id,
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
        amount = transaction.extended_amount.amount if transaction.extended_amount else None
        recorded: type[Account.TransactionRecorded]
        if kind == "PY":
            recorded = self.PaymentPosted
        elif kind == "AJ":
            recorded = self.AdjustmentPosted
        elif (
            kind == "CD"
            or transaction.quantity < 0
            or (amount is not None and amount < 0 and kind == "CG")
        ):
            recorded = self.ChargeCredited
        else:
            recorded = self.ChargePosted
        self.trigger_event(
            recorded,
            encounter_id=encounter_id,
            visit_number=visit_number,
            transaction=transaction,
            occurred_at=occurred_at,
            source_message_id=source_message_id,
        )
