"""The patient index: identifiers to patients, with demographics."""

from projections.patients.memory import MemoryPatientView
from projections.patients.postgres import PostgresPatientView
from projections.patients.projection import PatientProjection
from projections.patients.sqlite import SQLitePatientView
from projections.patients.view import PatientRecord, PatientView

__all__ = [
    "MemoryPatientView",
    "PatientProjection",
    "PatientRecord",
    "PatientView",
    "PostgresPatientView",
    "SQLitePatientView",
]
