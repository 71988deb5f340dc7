"""A patient whose name, MRN and birth date are unique strings, to look for in bytes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Canary:
    family: str
    mrn: str
    birth_date: str
    control_id: str

    @classmethod
    def new(cls) -> Canary:
        tag = secrets.token_hex(4).upper()
        year = 1900 + secrets.randbelow(99)
        return cls(
            f"ZQX{tag}",
            f"MRN{tag}",
            f"{year}0{secrets.randbelow(9) + 1}1{secrets.randbelow(9)}",
            f"C{tag}",
        )

    @property
    def strings(self) -> tuple[bytes, ...]:
        return (self.family.encode(), self.mrn.encode(), self.birth_date.encode())

    def a01(self, visit: str = "") -> bytes:
        visit = visit or f"V{self.mrn}"
        return (
            "\r".join(
                [
                    f"MSH|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101120000||ADT^A01^ADT_A01|{self.control_id}|P|2.5.1",
                    "EVN|A01|20240101120000",
                    f"PID|1||{self.mrn}^^^HOSP^MR||{self.family}^JANE^Q||{self.birth_date}|F",
                    f"PV1|1|I|WARD1^101^A^HOSP||||1234^SMITH^JOHN|||MED|||||||||{visit}^^^HOSP^VN"
                    "|||||||||||||||||||||||||20240101120000",
                ]
            ).encode()
            + b"\r"
        )

    def found_in(self, data: bytes) -> list[bytes]:
        """The canary strings that occur in ``data``."""
        return [s for s in self.strings if s in data]
