"""A generated corpus of realistic ADT messages, the same for carelog and its peers."""

from __future__ import annotations

import random

FAMILIES = ["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS"]
GIVEN = ["JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA"]
WARDS = ["ED", "WARD1", "WARD2", "ICU", "ONC", "PEDS"]


def adt_messages(count: int, *, seed: int = 7, patients: int = 0, start: int = 0) -> list[bytes]:
    """``count`` ADT^A01/A04 messages (~600 bytes each), unique control ids.

    ``patients`` bounds how many distinct patients appear (0: one per message);
    ``start`` offsets control ids, visit numbers and patients, for a second corpus
    (a warm-up) that shares nothing with the first.
    """
    rng = random.Random(seed)
    out = []
    for n in range(start, start + count):
        pid = rng.randrange(patients) if patients else n
        trigger = rng.choice(["A01", "A04"])
        ward = rng.choice(WARDS)
        msg = "\r".join(
            [
                f"MSH|^~\\&|EPIC|GENHOSP|CARELOG|GENHOSP|20240301{n % 24:02d}{n % 60:02d}00"
                f"||ADT^{trigger}^ADT_A01|BENCH{n:08d}|P|2.5.1|||AL|NE|USA|UNICODE UTF-8",
                f"EVN|{trigger}|20240301{n % 24:02d}{n % 60:02d}00|||1234^NURSE^NANCY",
                f"PID|1||{100000 + pid}^^^GENHOSP^MR~{900000000 + pid}^^^SSA^SS||"
                f"{rng.choice(FAMILIES)}^{rng.choice(GIVEN)}^Q^^^^L||"
                f"19{rng.randrange(30, 99)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}|"
                f"{rng.choice('FM')}|||{rng.randrange(1, 999)} MAIN ST^^SPRINGFIELD^IL^62701^USA"
                f"||(217)555-{rng.randrange(1000, 9999)}|||S||ACC{pid:07d}",
                f"PV1|1|{'I' if trigger == 'A01' else 'O'}"
                f"|{ward}^{rng.randrange(100, 400)}^A^GENHOSP"
                f"|{rng.choice('EUR')}|||4567^WELBY^MARCUS^^^DR|||MED||||1|||4567^WELBY^MARCUS^^^DR"
                f"|IN|V{n:08d}^^^GENHOSP^VN|||||||||||||||||||||||||20240301{n % 24:02d}0000",
                f"PV2|||^CHEST PAIN||||||||||||||||||||||{rng.randrange(1, 5)}",
            ]
        )
        out.append(msg.encode() + b"\r")
    return out
