"""FHIR Encounter participants, serviceType and dischargeDisposition as PV1 details.

The read mapping (``adapters.http.fhir_encounter._details``) backwards, so that a
FHIR write gives the EncounterDetails a PV1 with the same content gives:
``participant`` with a v3-ParticipationType ATND, REF, CON or ADM type is
PV1-7, 8, 9 or 17 (``individual.identifier.value`` the XCN-1 id,
``individual.display`` the name); ``serviceType`` is PV1-10 (table 0069);
``hospitalization.dischargeDisposition`` is PV1-36 (table 0112).

Participants are put in PV1's order (7, 8, 9, 17), keeping the order sent
within a role, because that is the order a v2 message gives them in. A
participant type with no PV1 field is refused (422) rather than dropped:
carelog would otherwise answer success for data it did not keep.
"""

from __future__ import annotations

from typing import Any

from adapters.fhir.errors import FhirError
from adapters.http.fhir_encounter import V2_0069, V2_0112, V3_PARTICIPATION
from engine.domain.values import EncounterDetails, Participant

__all__ = ["encounter_details", "split_display"]

ROLES = ("ATND", "REF", "CON", "ADM")
"""The v3-ParticipationType codes of PV1-7, 8, 9 and 17, in PV1's order."""


def split_display(display: str) -> tuple[str, str]:
    """(family, given) from a practitioner display: ``Family, Given`` or ``Given Family``.

    The read side writes ``Given Family``: the last word is taken as the
    family name, so a family name of several words round-trips only when
    written ``Family, Given``.
    """
    text = display.strip()
    if "," in text:
        family, _, given = text.partition(",")
        return family.strip(), given.strip()
    given, _, family = text.rpartition(" ")
    return family, given.strip()


def _code(concept: Any, system: str) -> str:
    """The code of ``concept``'s coding in ``system`` (else its first coding), or ""."""
    codings = [c for c in (concept or {}).get("coding", []) if c.get("code")]
    chosen = [c for c in codings if c.get("system") == system] or codings
    return str(chosen[0]["code"]) if chosen else ""


def _participant(index: int, data: dict[str, Any]) -> Participant:
    types = data.get("type") or []
    role = next((r for t in types if (r := _code(t, V3_PARTICIPATION))), "")
    where = f"Encounter.participant[{index}].type"
    if role not in ROLES:
        raise FhirError(
            422,
            "not-supported",
            f"participant type {role or '(none)'!r} has no HL7 v2 PV1 field: carelog keeps"
            f" {', '.join(ROLES)} (PV1-7, 8, 9, 17)",
            where,
        )
    individual = data.get("individual") or {}
    ident = str((individual.get("identifier") or {}).get("value", ""))
    family, given = split_display(str(individual.get("display", "")))
    if not (ident or family):
        raise FhirError(
            422,
            "required",
            "a participant needs individual.identifier.value or individual.display",
            f"Encounter.participant[{index}].individual",
        )
    return Participant(role, ident, family, given)


def encounter_details(data: dict[str, Any]) -> EncounterDetails:
    """The PV1-7/8/9/17, PV1-10 and PV1-36 an Encounter resource carries."""
    people = [_participant(i, p) for i, p in enumerate(data.get("participant") or [])]
    people.sort(key=lambda p: ROLES.index(p.role))  # stable: the order within a role stays
    hospitalization = data.get("hospitalization") or {}
    return EncounterDetails(
        participants=tuple(people),
        service=_code(data.get("serviceType"), V2_0069),
        disposition=_code(hospitalization.get("dischargeDisposition"), V2_0112),
    )
