"""One patient's stay as HL7 messages, for the history, replay, as-of and verify tests.

Admit, transfer, a lab result, a charge, discharge, then a second record of the
same person merged into the first (A40).
"""

from __future__ import annotations

from tests.messages import adt, dft, oru

ADMIT = adt("A01", "S1", location="WARD1^101^A^HOSP", event_time="20240101080000")
TRANSFER = adt(
    "A02",
    "S2",
    location="ICU^1^A^HOSP",
    prior_location="WARD1^101^A^HOSP",
    event_time="20240101100000",
)
RESULT = oru("S3", [{1: "1", 2: "NM", 3: "2093-3^Cholesterol^LN", 5: "196", 6: "mg/dL", 11: "F"}])
CHARGE = dft(
    "S4", [{1: "1", 4: "20240101", 6: "CG", 7: "80061^Lipid panel^CPT4", 10: "1", 11: "136.10&USD"}]
)
DISCHARGE = adt(
    "A03",
    "S5",
    location="ICU^1^A^HOSP",
    event_time="20240101160000",
    discharge_time="20240101160000",
)
SECOND_RECORD = adt(
    "A04", "S6", mrn="MRN2", visit="V2", location="ED^1^^HOSP", event_time="20240101170000"
)
MERGE = (
    b"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|20240101180000||ADT^A40^ADT_A39|S7|P|2.5.1\r"
    b"EVN|A40|20240101180000\rPID|1||MRN1^^^HOSP^MR||DOE^JANE\rMRG|MRN2^^^HOSP^MR\r"
)

STAY = (ADMIT, TRANSFER, RESULT, CHARGE, DISCHARGE, SECOND_RECORD, MERGE)
