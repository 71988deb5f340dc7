"""Building HL7 v2 ADT messages for tests: one template, the fields a test cares about."""

from __future__ import annotations

VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8")


def adt(
    trigger: str,
    control_id: str,
    *,
    version: str = "2.5.1",
    mrn: str = "MRN1",
    name: str = "DOE^JANE",
    birth: str = "19800101",
    sex: str = "F",
    patient_class: str = "I",
    location: str = "WARD1^101^A^HOSP",
    prior_location: str = "",
    visit: str = "V1",
    admit_type: str = "",
    priority: str = "",
    event_time: str = "20240101120000",
    discharge_time: str = "",
    pv1: bool = True,
) -> bytes:
    """An ADT^<trigger> message; pass ``visit=""`` for one without a visit number."""
    structure = {"A04": "ADT_A01", "A08": "ADT_A01", "A13": "ADT_A01", "A05": "ADT_A05"}.get(
        trigger, f"ADT_{trigger}" if trigger in ("A01", "A02", "A03", "A06", "A12") else "ADT_A01"
    )
    msh9 = f"ADT^{trigger}" if version == "2.3" else f"ADT^{trigger}^{structure}"
    segments = [
        f"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|{event_time}||{msh9}|{control_id}|P|{version}",
        f"EVN|{trigger}|{event_time}",
        f"PID|1||{mrn}^^^HOSP^MR||{name}||{birth}|{sex}",
    ]
    if pv1:
        fields = [""] * 46
        fields[1] = "1"
        fields[2] = patient_class
        fields[3] = location
        fields[4] = admit_type
        fields[6] = prior_location
        fields[19] = f"{visit}^^^HOSP^VN" if visit else ""
        fields[45] = discharge_time
        segments.append("PV1" + "|".join(fields).rstrip("|"))
        if priority:
            segments.append("PV2" + "|" * 25 + priority)
    return ("\r".join(segments) + "\r").encode()
