"""The appointments read model: who is expected at each location and when (SIU, A04)."""

from projections.appointments.memory import MemoryAppointmentView
from projections.appointments.postgres import PostgresAppointmentView
from projections.appointments.projection import AppointmentProjection
from projections.appointments.sql import APPOINTMENT_TABLES
from projections.appointments.sqlite import SQLiteAppointmentView
from projections.appointments.view import AppointmentCriteria, AppointmentRecord, AppointmentView

__all__ = [
    "APPOINTMENT_TABLES",
    "AppointmentCriteria",
    "AppointmentProjection",
    "AppointmentRecord",
    "AppointmentView",
    "MemoryAppointmentView",
    "PostgresAppointmentView",
    "SQLiteAppointmentView",
]
