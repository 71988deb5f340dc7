"""Audit: a keyed hash chain over the stored records, and the verifier that checks it."""

from projections.audit.seals import SEALS_TABLE, Sealer, next_seal
from projections.audit.verify import Fault, VerifyReport, verify

__all__ = ["SEALS_TABLE", "Fault", "Sealer", "VerifyReport", "next_seal", "verify"]
