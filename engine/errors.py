"""The carelog error tree.

    CarelogError
    ├── DomainError                    a business rule refused a command
    │   ├── UnknownPatientError        no history for the patient a message names (AE 204)
    │   ├── UnknownVisitError          no history for the visit a message names (AE 204)
    │   ├── InvalidTransitionError     the trigger does not fit the visit's state (AE 207)
    │   ├── DuplicateMessageError      same MSH-3, MSH-4, MSH-10 already stored
    │   └── ErasedDataError            stored state of an erased patient (key forgotten)
    ├── MessageRejectedError           carries ack_code (AE/AR) and the faults for ERR
    │   ├── ParseError                 not HL7 at all, or a header we cannot read (AR)
    │   ├── ValidationError            the validator found faults (AE, or AR if fatal)
    │   └── UnsupportedMessageError    type, trigger, version or processing id (AR)
    ├── ConcurrencyError               another writer saved the same aggregate first
    ├── ConfigError (ValueError)       a setting is missing or malformed; names the key
    ├── NativeValidatorError           the C validator failed (not a message fault)
    ├── StoredStateError               stored state does not decrypt (tampered, wrong key)
    └── TransportError                 a peer or socket misbehaved

Adapters hold the only mapping tables from these to ACK codes and HTTP statuses.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.ports import Fault

__all__ = [
    "CarelogError",
    "ConcurrencyError",
    "ConfigError",
    "DomainError",
    "DuplicateMessageError",
    "ErasedDataError",
    "InvalidTransitionError",
    "MessageRejectedError",
    "NativeValidatorError",
    "ParseError",
    "StoredStateError",
    "TransportError",
    "UnknownPatientError",
    "UnknownVisitError",
    "UnsupportedMessageError",
    "ValidationError",
]


class CarelogError(Exception):
    """Root of every error carelog raises on purpose."""


class DomainError(CarelogError):
    """A business rule refused the command; nothing was stored."""


class UnknownPatientError(DomainError):
    """The command names a patient that has no history."""


class UnknownVisitError(DomainError):
    """The message names a visit (PV1-19) that has no history."""


class InvalidTransitionError(DomainError):
    """The trigger does not fit the visit's state (a discharge of a cancelled visit...)."""


class DuplicateMessageError(DomainError):
    """The message (MSH-3, MSH-4, MSH-10) was stored before; it is answered AA again."""


class MessageRejectedError(CarelogError):
    """The message cannot be applied; the sender gets ``ack_code`` with ERR segments.

    ``faults`` locate each problem; an empty tuple means the text alone explains it.
    """

    ack_code = "AE"

    def __init__(self, reason: str, faults: Sequence[Fault] = (), ack_code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.faults = tuple(faults)
        if ack_code is not None:
            self.ack_code = ack_code


class ParseError(MessageRejectedError):
    """The bytes are not an HL7 v2 message we can read (AR)."""

    ack_code = "AR"


class ValidationError(MessageRejectedError):
    """The validator found faults in a readable message (AE unless a fault is fatal)."""


class UnsupportedMessageError(MessageRejectedError):
    """Message type, trigger, version or processing id that carelog does not take (AR)."""

    ack_code = "AR"


class ConcurrencyError(CarelogError):
    """Another writer saved one of the same aggregates first; retrying is safe."""


class ConfigError(CarelogError, ValueError):
    """A setting is missing or malformed; the message names the key."""


class NativeValidatorError(CarelogError):
    """The C validator returned an error code (bad arguments, buffer too small)."""


class TransportError(CarelogError):
    """A peer closed, timed out or sent bytes the protocol does not allow."""


class StoredStateError(CarelogError):
    """A stored event's state does not decrypt: tampered, swapped, or the wrong master key.

    The message names the record (position, aggregate, version); nothing is served from it.
    """


class ErasedDataError(DomainError):
    """A stored event's data key was forgotten (its patient was erased): unreadable by design.

    A DomainError: a message about an erased patient is refused (AE), the others go on.
    """
