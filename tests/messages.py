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
    admit_time: str = "",
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
        fields[44] = admit_time
        fields[45] = discharge_time
        segments.append("PV1" + "|".join(fields).rstrip("|"))
        if priority:
            segments.append("PV2" + "|" * 25 + priority)
    return ("\r".join(segments) + "\r").encode()


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment with the given fields set (1-based), the rest empty."""
    top = max(fields) if fields else 0
    return name + "".join(f"|{fields.get(n, '')}" for n in range(1, top + 1))


def oru(
    control_id: str,
    obxs: list[dict[int, str]],
    *,
    order: str = "FL1",
    status: str = "F",
    version: str = "2.5.1",
    mrn: str = "MRN1",
) -> bytes:
    """An ORU^R01 for ``mrn`` with one OBR (filler order ``order``) and the given OBX fields."""
    segments = [
        f"MSH|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101130000||ORU^R01^ORU_R01|{control_id}|P|{version}",
        f"PID|1||{mrn}^^^HOSP^MR||DOE^JANE||19800101|F",
        segment("PV1", {1: "1", 2: "I", 3: "WARD1", 19: "V1^^^HOSP^VN"}),
        segment(
            "OBR",
            {
                1: "1",
                2: "PL1",
                3: f"{order}^LAB",
                4: "24331-1^Lipid panel^LN",
                7: "20240101120000",
                25: status,
            },
        ),
        *(segment("OBX", obx) for obx in obxs),
    ]
    return ("\r".join(segments) + "\r").encode()


def dft(
    control_id: str,
    ft1s: list[dict[int, str]],
    *,
    account: str = "ACC9",
    version: str = "2.5.1",
    visit: str = "V1",
    mrn: str = "MRN1",
) -> bytes:
    """A DFT^P03 for ``mrn`` on ``account`` (PID-18), visit ``visit``, with the given FT1s."""
    pid = {1: "1", 3: f"{mrn}^^^HOSP^MR", 5: "DOE^JANE", 7: "19800101", 8: "F"}
    if account:
        pid[18] = f"{account}^^^HOSP^AN"
    segments = [
        f"MSH|^~\\&|BILL|HOSP|CARELOG|HOSP|20240101130000||DFT^P03^DFT_P03|{control_id}|P|{version}",
        "EVN|P03|20240101130000",
        segment("PID", pid),
        segment("PV1", {1: "1", 2: "I", 3: "WARD1", 19: f"{visit}^^^HOSP^VN"}),
        *(segment("FT1", ft1) for ft1 in ft1s),
    ]
    return ("\r".join(segments) + "\r").encode()


def a40(control_id: str, *, survivor: str, retired: str) -> bytes:
    """An ADT^A40 merging patient ``retired`` (MRG-1) into ``survivor`` (PID-3)."""
    return (
        f"MSH|^~\\&|HIS|HOSP|CARELOG|HOSP|20240102||ADT^A40^ADT_A39|{control_id}|P|2.5.1\r"
        f"EVN|A40|20240102\rPID|1||{survivor}^^^HOSP^MR||DOE^JANE\rMRG|{retired}^^^HOSP^MR\r"
    ).encode()


def siu(
    trigger: str,
    control_id: str,
    *,
    version: str = "2.5.1",
    appointment: str = "A100",
    placer: str = "P100",
    mrn: str = "MRN1",
    start: str = "20240102090000",
    duration: str = "30",
    location: str = "CLINIC1^^^HOSP",
    doctor: str = "D1^SMITH^ANNA",
    status: str = "Booked",
    reason: str = "FU^Follow-up^HL70276",
    facility: str = "HOSP",
    pid: bool = True,
    pv1: dict[int, str] | None = None,
    event_time: str = "20240101080000",
) -> bytes:
    """An SIU^<trigger> (S12 structure) for ``mrn``: SCH, TQ1 (2.5+), PID, RGS, AIL, AIP.

    Before 2.5 the start time goes in SCH-11.4 (TQ), from 2.5 in TQ1-7; an empty
    ``start`` sends neither.
    """
    msh9 = f"SIU^{trigger}" if version == "2.3" else f"SIU^{trigger}^SIU_S12"
    sch = {1: placer, 2: f"{appointment}^SCHED" if appointment else "", 7: reason}
    sch.update({9: duration, 10: "min" if duration else "", 25: status})
    old = version.startswith(("2.3", "2.4"))
    if old and start:
        sch[11] = f"^^^{start}"
    segments = [
        f"MSH|^~\\&|SCHED|{facility}|CARELOG|HOSP|{event_time}||{msh9}|{control_id}|P|{version}",
        segment("SCH", sch),
    ]
    if not old and start:
        segments.append(segment("TQ1", {1: "1", 7: start}))
    if pid:
        segments.append(f"PID|1||{mrn}^^^HOSP^MR||DOE^JANE||19800101|F")
        if pv1:
            segments.append(segment("PV1", pv1))
    segments.append("RGS|1|A")
    if location:
        segments.append(segment("AIL", {1: "1", 2: "A", 3: location, 6: start}))
    if doctor:
        segments.append(segment("AIP", {1: "1", 2: "A", 3: doctor, 4: "ATND"}))
    return ("\r".join(segments) + "\r").encode()
