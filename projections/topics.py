"""Event topics several read models subscribe to, named once."""

from __future__ import annotations

from eventsourcing.utils import get_topic

from engine.domain.encounter import Encounter
from engine.domain.patient import Patient

__all__ = ["VISIT_TOPICS"]

VISIT_TOPICS: tuple[str, ...] = (
    get_topic(Encounter.Admitted),
    get_topic(Encounter.Registered),
    get_topic(Encounter.PreAdmitted),
    get_topic(Encounter.Arrived),
    get_topic(Encounter.Transferred),
    get_topic(Encounter.TransferCancelled),
    get_topic(Encounter.Discharged),
    get_topic(Encounter.DischargeCancelled),
    get_topic(Encounter.AdmissionCancelled),
    get_topic(Encounter.ClassChanged),
    get_topic(Encounter.InpatientAdmitted),
    get_topic(Patient.Merged),
)
"""Every visit lifecycle event, plus merges (a visit follows its patient's survivor)."""
