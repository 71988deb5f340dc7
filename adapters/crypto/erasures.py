"""Whether a patient was erased: its Erasure record exists (FHIR reads answer 410 Gone)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from engine.application.ingestion import Ingestion
from engine.domain.erasure import erasure_id_for

__all__ = ["erased_check"]


def erased_check(ingestion: Ingestion) -> Callable[[str], bool]:
    """``patient_id -> bool``; asked only when a read found nothing (one store lookup)."""

    def erased(patient_id: str) -> bool:
        try:
            UUID(patient_id)
        except ValueError:
            return False
        return ingestion.current(erasure_id_for(patient_id)) is not None

    return erased
