"""carelog's aggregates and their events; pure, no I/O, no logging."""

from engine.domain.encounter import Encounter
from engine.domain.message import InboundMessage
from engine.domain.patient import Patient
from engine.domain.values import Identifier, Location, PersonName

__all__ = ["Encounter", "Identifier", "InboundMessage", "Location", "Patient", "PersonName"]
