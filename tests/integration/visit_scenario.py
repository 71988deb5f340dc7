"""One morning in the emergency department, as ADT messages: shared by the queue tests.

Ten visits' worth of registrations, a pre-admission that arrives, a transfer
and its cancellation, discharges, a cancelled discharge, a cancelled
admission and a merge, with priorities E/U/R, PV2-25 overriding PV1-4, and
ties broken by arrival time. Times are 2024-01-01 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.domain.ids import encounter_id_for, patient_id_for
from engine.domain.values import Identifier
from tests.messages import adt

DAY = datetime(2024, 1, 1, tzinfo=UTC).date()
NOON = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def at(hhmm: str) -> datetime:
    """2024-01-01 at ``hhmm`` UTC."""
    return datetime(2024, 1, 1, int(hhmm[:2]), int(hhmm[2:]), tzinfo=UTC)


def patient(mrn: str) -> str:
    return str(patient_id_for(Identifier(mrn, "HOSP", "MR")))


def visit(number: str) -> str:
    return str(encounter_id_for(Identifier(number, "HOSP", "VN"), None))  # type: ignore[arg-type]


def a40(control_id: str, survivor: str, retired: str, hhmm: str) -> bytes:
    when = f"20240101{hhmm}00"
    return (
        f"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|{when}||ADT^A40^ADT_A39|{control_id}|P|2.5.1\r"
        f"EVN|A40|{when}\rPID|1||{survivor}^^^HOSP^MR||DOE^JOHN\rMRG|{retired}^^^HOSP^MR\r"
    ).encode()


def _adt(trigger: str, n: int, hhmm: str, **fields: str) -> bytes:
    fields.setdefault("patient_class", "E")  # emergency visits: they queue (CARELOG_QUEUE_CLASSES)
    return adt(trigger, f"Q{n:03d}", event_time=f"20240101{hhmm}00", **fields)


def ed(n: int) -> dict[str, str]:
    """The patient and visit fields of the n-th ED patient (MRN Mn, visit Vn)."""
    return {"mrn": f"M{n}", "visit": f"V{n}"}


ARRIVALS = [
    _adt("A04", 1, "1000", **ed(1), location="ED^1^A^HOSP", admit_type="R"),
    _adt("A04", 2, "1005", **ed(2), location="ED^2^A^HOSP", admit_type="U"),
    _adt("A04", 3, "1010", **ed(3), location="ED^3^A^HOSP", admit_type="E", patient_class="E"),
    # PV2-25 (1 = emergency) wins over PV1-4 routine.
    _adt("A04", 4, "1015", **ed(4), location="ED^4^A^HOSP", admit_type="R", priority="1"),
    _adt("A04", 5, "1020", **ed(5), location="ED^5^A^HOSP", admit_type="E"),
    # Pre-admitted: in nobody's queue until it arrives.
    _adt("A05", 6, "1025", **ed(6), location="ED^6^A^HOSP", admit_type="U", patient_class="P"),
]
"""After these (and before ``ARRIVED``): V3, V4, V5, V2, V1 at ED; V6 planned."""

ARRIVED = [_adt("A04", 7, "1030", **ed(6), location="ED^6^A^HOSP", admit_type="U")]
"""ED order now: V3 (E 10:10), V4 (PV2-25 1, 10:15), V5 (E 10:20), V2 (U 10:05),
V6 (U 10:30), V1 (R 10:00)."""

MOVES = [
    _adt("A02", 8, "1040", **ed(1), location="XRAY^1^^HOSP"),
    # A12: PV1-3 is where the patient goes back to.
    _adt("A12", 9, "1050", **ed(1), location="ED^1^A^HOSP"),
    _adt("A03", 10, "1100", **ed(2), location="ED^2^A^HOSP"),
    _adt("A13", 11, "1110", **ed(2), location="ED^2^A^HOSP"),
    _adt("A11", 12, "1120", **ed(5), location="ED^5^A^HOSP"),
    _adt("A08", 13, "1125", **ed(3), name="DOE^JOAN", pv1=False),
    _adt("A03", 14, "1130", **ed(3), location="ED^3^A^HOSP"),
    _adt("A03", 15, "1140", **ed(4), location="ED^4^A^HOSP"),
    # M1 is retired into M7 (who had no visit of their own).
    a40("Q016", "M7", "M1", "1150"),
]
"""At noon, ED order: V2 (U, back since 10:05), V6 (U 10:30), V1 (R, since 10:00, now M7's).
Waits of those who left ED: V5 3600 s (A11), V3 4800 s, V4 5100 s."""

ALL = [*ARRIVALS, *ARRIVED, *MOVES]
