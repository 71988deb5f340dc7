"""PatientDetails as the JSON text of ``patients_v1.details``, and back.

Other names, addresses, telecom and death are read and shown together (the
FHIR Patient, the patient API) and never searched on here, so they are one
JSON column rather than three more tables; an empty text is "none known".
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from engine.domain.values import Address, Coded, ContactPoint, PatientDetails, PersonName

__all__ = ["details_json", "details_of"]


def details_json(details: PatientDetails) -> str:
    """The column text (``""`` for no details)."""
    if details == PatientDetails():
        return ""
    data: dict[str, Any] = asdict(details)
    data["deceased_at"] = details.deceased_at.isoformat() if details.deceased_at else None
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def details_of(text: str | None) -> PatientDetails:
    """The column text back as PatientDetails."""
    if not text:
        return PatientDetails()
    data = json.loads(text)
    at = data.get("deceased_at")
    return PatientDetails(
        other_names=tuple(PersonName(**n) for n in data.get("other_names", [])),
        addresses=tuple(Address(**a) for a in data.get("addresses", [])),
        telecom=tuple(ContactPoint(**t) for t in data.get("telecom", [])),
        deceased=data.get("deceased", ""),
        deceased_at=datetime.fromisoformat(at) if at else None,
        language=_coded(data.get("language")),
        marital_status=_coded(data.get("marital_status")),
        multiple_birth=data.get("multiple_birth", ""),
        birth_order=data.get("birth_order", ""),
    )


def _coded(data: dict[str, str] | None) -> Coded | None:
    return Coded(**data) if data else None
