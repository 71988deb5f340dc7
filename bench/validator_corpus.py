"""One generated corpus of realistic ~1 KB HL7 v2 messages: ADT, ORU with several OBX, DFT.

The validator benchmark (bench/validator.py) runs carelog and its peers on
these same bytes, and tests/data/hl7/fuzz-seeds holds a few of them as fuzz
seeds. Every message is valid against carelog's profiles in the tolerant
and strict levels (tests/integration/native/test_bench_corpus.py checks it).
"""

from __future__ import annotations

import random

__all__ = ["corpus"]

FAMILIES = ["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS"]
GIVEN = ["JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA"]
WARDS = ["ED", "WARD1", "WARD2", "ICU", "ONC", "PEDS"]
TESTS = [
    ("2345-7", "Glucose", "mg/dL", "70-99"),
    ("2093-3", "Cholesterol", "mg/dL", "<200"),
    ("2571-8", "Triglyceride", "mg/dL", "<150"),
    ("2085-9", "HDL Cholesterol", "mg/dL", ">40"),
    ("718-7", "Hemoglobin", "g/dL", "12.0-16.0"),
    ("6690-2", "Leukocytes", "10*3/uL", "4.5-11.0"),
    ("777-3", "Platelets", "10*3/uL", "150-400"),
    ("2951-2", "Sodium", "mmol/L", "136-145"),
]


def _msh(rng: random.Random, n: int, code: str, version: str) -> str:
    return (
        f"MSH|^~\\&|EPIC|GENHOSP|CARELOG|GENHOSP|20240301{n % 24:02d}{n % 60:02d}00||{code}"
        f"|BENCH{n:08d}|P|{version}|||AL|NE|USA|UNICODE UTF-8"
    )


def _pid(rng: random.Random, n: int) -> str:
    return (
        f"PID|1||{100000 + n}^^^GENHOSP^MR~{900000000 + n}^^^SSA^SS||"
        f"{rng.choice(FAMILIES)}^{rng.choice(GIVEN)}^Q^^^^L|{rng.choice(FAMILIES)}^^^^^^M|"
        f"19{rng.randrange(30, 99)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}|"
        f"{rng.choice('FM')}||2106-3^White^HL70005|{rng.randrange(1, 999)} MAIN ST^^SPRINGFIELD"
        f"^IL^62701^USA^H||(217)555-{rng.randrange(1000, 9999)}^PRN^PH|||S||ACC{n:07d}^^^GENHOSP^AN"
        f"|{rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"
    )


def _pv1(rng: random.Random, n: int, patient_class: str) -> str:
    doctor = f"{rng.randrange(1000, 9999)}^WELBY^MARCUS^J^^DR^^^GENHOSP"
    return (
        f"PV1|1|{patient_class}|{rng.choice(WARDS)}^{rng.randrange(100, 400)}^A^GENHOSP||||{doctor}"
        f"|{doctor}||MED||||1|||{doctor}|IN|V{n:08d}^^^GENHOSP^VN|||||||||||||||||||||||||"
        f"20240301{n % 24:02d}0000"
    )


def _adt(rng: random.Random, n: int) -> str:
    trigger = rng.choice(["A01", "A04", "A08"])
    when = f"20240301{n % 24:02d}{n % 60:02d}00"
    return "\r".join(
        [
            _msh(rng, n, f"ADT^{trigger}^ADT_A01", "2.5.1"),
            f"EVN|{trigger}|{when}|||1234^NURSE^NANCY^^^^^^GENHOSP|{when}",
            _pid(rng, n),
            f"NK1|1|{rng.choice(FAMILIES)}^{rng.choice(GIVEN)}|SPO^Spouse^HL70063"
            f"|{rng.randrange(1, 999)} OAK AVE^^SPRINGFIELD^IL^62701"
            f"|(217)555-{rng.randrange(1000, 9999)}",
            _pv1(rng, n, "I" if trigger == "A01" else "O"),
            f"PV2|||R07.9^CHEST PAIN, UNSPECIFIED^I10||||||||||||||||||||||{rng.randrange(1, 5)}",
            "AL1|1|DA|70618^Penicillin^RXNORM|MO|HIVES|20200101",
            f"DG1|1||R07.9^CHEST PAIN, UNSPECIFIED^I10||{when}|A",
            f"IN1|1|BCBS01^BLUE CROSS PLAN|BCBS|BLUE CROSS BLUE SHIELD|PO BOX 1^^CHICAGO^IL^60601"
            f"||||GRP{rng.randrange(1000, 9999)}|||20240101|20241231",
        ]
    )


def _oru(rng: random.Random, n: int) -> str:
    when = f"20240301{n % 24:02d}{n % 60:02d}00"
    obx = []
    for k, (code, name, unit, ref) in enumerate(rng.sample(TESTS, 6), 1):
        value = f"{rng.uniform(1, 300):.1f}"
        flag = rng.choice(["N", "N", "H", "L"])
        obx.append(
            f"OBX|{k}|NM|{code}^{name}^LN||{value}|{unit}^{unit}^UCUM|{ref}|{flag}|||F"
            f"|||{when}||||{when}"
        )
    return "\r".join(
        [
            _msh(rng, n, "ORU^R01^ORU_R01", "2.5.1"),
            _pid(rng, n),
            _pv1(rng, n, "O"),
            f"ORC|RE|PL{n:08d}|FL{n:08d}||CM",
            f"OBR|1|PL{n:08d}|FL{n:08d}^LAB|24331-1^Lipid and chemistry panel^LN|||{when}"
            f"|||||||{when}||4567^WELBY^MARCUS||||||{when}||CH|F",
            *obx,
            "NTE|1|L|Specimen received in good condition.",
        ]
    )


def _dft(rng: random.Random, n: int) -> str:
    when = f"20240301{n % 24:02d}{n % 60:02d}00"
    ft1 = []
    for k in range(1, 4):
        kind = rng.choice(["CG", "CG", "CG", "CD"])
        qty = rng.randrange(1, 5)
        ft1.append(
            f"FT1|{k}|T{n:07d}{k}||{when[:8]}|{when[:8]}|{kind}|{rng.randrange(80000, 89999)}"
            f"^LAB PROCEDURE^CPT|||{qty if kind == 'CG' else -qty}|{qty * 25}.00&USD|25.00&USD"
            f"||||||R07.9^CHEST PAIN^I10|4567^WELBY^MARCUS||||{rng.randrange(80000, 89999)}^LAB^CPT"
        )
    return "\r".join(
        [
            _msh(rng, n, "DFT^P03^DFT_P03", "2.5.1"),
            f"EVN|P03|{when}",
            _pid(rng, n),
            _pv1(rng, n, "O"),
            *ft1,
            f"DG1|1||R07.9^CHEST PAIN, UNSPECIFIED^I10||{when}|A",
        ]
    )


def corpus(count: int, *, seed: int = 11) -> list[bytes]:
    """``count`` messages, a third each ADT, ORU (6 OBX) and DFT (3 FT1), ~1 KB each."""
    rng = random.Random(seed)
    makers = [_adt, _oru, _dft]
    return [(makers[n % 3](rng, n) + "\r").encode() for n in range(count)]
