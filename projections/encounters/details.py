"""EncounterDetails as the JSON text of ``encounters_v1.details``, and back.

Participants, service and discharge disposition are shown with the visit
(FHIR Encounter) and not searched on here: one JSON column, empty text when
nothing was sent.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from engine.domain.values import EncounterDetails, Participant

__all__ = ["encounter_details_json", "encounter_details_of"]


def encounter_details_json(details: EncounterDetails) -> str:
    """The column text (``""`` for no details)."""
    if details == EncounterDetails():
        return ""
    return json.dumps(asdict(details), separators=(",", ":"), sort_keys=True)


def encounter_details_of(text: str | None) -> EncounterDetails:
    """The column text back as EncounterDetails."""
    if not text:
        return EncounterDetails()
    data = json.loads(text)
    return EncounterDetails(
        participants=tuple(Participant(**p) for p in data.get("participants", [])),
        service=data.get("service", ""),
        disposition=data.get("disposition", ""),
    )
