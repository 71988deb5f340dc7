"""Helpers for the scale-out tests: a multi-patient corpus and read-model dumps to compare.

The corpus gives each patient a whole story (registration, admission, update with
a new identifier, a lab result, a charge, a transfer, a discharge), so every
read model in the catalog has rows. With ``merge_every``, every such patient's
story also books and registers a duplicate record with a visit of its own and merges it
(A40) into the patient: the two records' events travel on different Kafka
partitions, so workers may apply the merge before the duplicate's registration.
Messages of one story must be sent in order (one connection each); stories
may interleave freely, since every read model depends only on each story's
own order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from projections.catalog import CATALOG
from tests.messages import segment

STORY = 7  # messages per patient


def _msh(app: str, when: str, kind: str, control: str) -> str:
    return f"MSH|^~\\&|{app}|HOSP|CARELOG|HOSP|{when}||{kind}|{control}|P|2.5.1"


def patient_story(n: int, merged: bool = False) -> list[bytes]:
    """The seven messages of patient ``n``, in the order they must be applied.

    ``merged``: three more, a duplicate record booked (SIU^S12) and registered first
    and merged into the patient after the admission (ten messages).
    """
    mrn = f"P{n:06d}"
    visit = f"V{n:06d}^^^HOSP^VN"
    day = f"202403{n % 28 + 1:02d}"
    born = f"19{50 + n % 40}0{n % 9 + 1}15|{'FM'[n % 2]}"
    pid = f"PID|1||{mrn}^^^HOSP^MR||FAM{n}^GIVEN{n % 17}||{born}"
    pid_updated = (
        f"PID|1||{mrn}^^^HOSP^MR~{900000000 + n}^^^SSA^SS||FAM{n}-NEW^GIVEN{n % 17}"
        f"||19{50 + n % 40}0{n % 9 + 1}15|{'FM'[n % 2]}|||||||||ACC{n:06d}^^^HOSP^AN"
    )
    ward = ("ED", "WARD1", "WARD2", "ICU")[n % 4]

    def pv1(location: str, cls: str = "I", number: str = visit) -> str:
        return segment("PV1", {1: "1", 2: cls, 3: location, 19: number})

    def adt(
        trigger: str, step: int, hour: int, pid_segment: str, location: str, number: str = visit
    ) -> bytes:
        when = f"{day}{hour:02d}0000"
        structure = {"A04": "ADT_A01", "A08": "ADT_A01"}.get(trigger, f"ADT_{trigger}")
        return (
            "\r".join(
                [
                    _msh("HIS", when, f"ADT^{trigger}^{structure}", f"S{n}-{step}"),
                    f"EVN|{trigger}|{when}",
                    pid_segment,
                    pv1(location, "E" if trigger == "A04" else "I", number),
                ]
            )
            + "\r"
        ).encode()

    location = f"{ward}^{100 + n % 50}^A^HOSP"
    oru = "\r".join(
        [
            _msh("LAB", f"{day}130000", "ORU^R01^ORU_R01", f"S{n}-4"),
            pid_updated,
            pv1(location),
            segment(
                "OBR",
                {
                    1: "1",
                    2: f"PL{n}",
                    3: f"FL{n}^LAB",
                    4: "24331-1^Lipid panel^LN",
                    7: f"{day}120000",
                    25: "F",
                },
            ),
            segment(
                "OBX",
                {
                    1: "1",
                    2: "NM",
                    3: "2093-3^Cholesterol^LN",
                    5: str(150 + n % 90),
                    6: "mg/dL",
                    7: "<200",
                    8: "N",
                    11: "F",
                    14: f"{day}120000",
                },
            ),
        ]
    )
    dft = "\r".join(
        [
            _msh("BILL", f"{day}140000", "DFT^P03^DFT_P03", f"S{n}-5"),
            f"EVN|P03|{day}140000",
            pid_updated,
            pv1(location),
            segment(
                "FT1",
                {
                    1: "1",
                    2: f"T{n}",
                    4: day,
                    6: "CG",
                    7: "99213^Office visit^CPT",
                    10: "1",
                    11: f"{100 + n % 50}.25&USD",
                    12: f"{100 + n % 50}.25&USD",
                    19: "I10^Hypertension^I10C",
                },
            ),
        ]
    )
    story = [
        adt("A04", 1, 8, pid, "ED^1^A^HOSP"),
        adt("A01", 2, 9, pid, location),
        adt("A08", 3, 10, pid_updated, location),
        (oru + "\r").encode(),
        (dft + "\r").encode(),
        adt("A02", 6, 15, pid_updated, f"WARD9^{n % 30}^B^HOSP"),
        adt("A03", 7, 18, pid_updated, f"WARD9^{n % 30}^B^HOSP"),
    ]
    if not merged:
        return story
    duplicate = f"D{n:06d}"
    pid_duplicate = f"PID|1||{duplicate}^^^HOSP^MR||FAM{n}^GIVEN{n % 17}||{born}"
    merge = (
        "\r".join(
            [
                _msh("HIS", f"{day}093000", "ADT^A40^ADT_A39", f"S{n}-m"),
                f"EVN|A40|{day}093000",
                pid,
                f"MRG|{duplicate}^^^HOSP^MR",
            ]
        )
        + "\r"
    ).encode()
    registered = adt("A04", 0, 7, pid_duplicate, "ED^2^A^HOSP", f"W{n:06d}^^^HOSP^VN")
    # The duplicate was booked at the ED that morning: its A04 is the arrival, and the
    # merge moves the appointment to the patient (appointments_v1 and its merges).
    booked = "\r".join(
        [
            _msh("SCHED", f"{day}060000", "SIU^S12^SIU_S12", f"S{n}-b"),
            segment("SCH", {1: f"PA{n}", 2: f"FA{n}^SCHED", 9: "30", 10: "min", 25: "Booked"}),
            segment("TQ1", {1: "1", 7: f"{day}073000"}),
            pid_duplicate,
            "RGS|1|A",
            segment("AIL", {1: "1", 2: "A", 3: "ED^2^A^HOSP"}),
        ]
    )
    return [(booked + "\r").encode(), registered, *story[:2], merge, *story[2:]]


def corpus(count: int, merge_every: int = 0) -> list[list[bytes]]:
    """``count`` messages as per-patient stories (the last one may be cut short).

    ``merge_every``: every that many patients (from the first), a merged story.
    """
    stories = []
    total = 0
    n = 0
    while total < count:
        story = patient_story(n, merged=bool(merge_every) and n % merge_every == 0)
        story = story[: count - total]
        stories.append(story)
        total += len(story)
        n += 1
    return stories


def _norm(value: Any) -> Any:
    """One spelling per value across SQLite and PostgreSQL (text, numbers, times)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal | int | float):
        return str(Decimal(str(value)).normalize())
    return str(value)


# Columns that name store positions or recording times: those differ between two runs
# that interleave stories differently, even when every story is the same. They are left
# out of the comparison; history_v1 keeps its order instead, as each row's rank among its
# patient's rows by position (one story's events are stored in the same order every run).
RUN_SPECIFIC = {
    "patient_identifiers_v1": ("claimed_at",),
    "history_v1": ("notification_id", "recorded_at"),
    "history_merges_v1": ("recorded_at",),
    "history_messages_v1": ("recorded_at",),
    # the message log: when and on which connection (peer port) each run received it
    "message_log_v1": ("position", "received_at", "channel"),
    "message_keys_v1": ("received_at",),
}


def _rows(cursor: Any, table: str) -> list[tuple[Any, ...]]:
    cursor.execute(f"SELECT * FROM {table}")  # table names come from the catalog
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if table == "history_v1":
        position, patient = columns.index("notification_id"), columns.index("patient_id")
        ranks: dict[Any, int] = {}
        ranked = []
        for row in sorted(rows, key=lambda r: int(r[position])):
            ranks[row[patient]] = ranks.get(row[patient], 0) + 1
            ranked.append((*row, ranks[row[patient]]))
        rows, columns = ranked, [*columns, "rank"]
    dropped = RUN_SPECIFIC.get(table, ())
    kept = [i for i, c in enumerate(columns) if c not in dropped]
    return sorted((tuple(_norm(row[i]) for i in kept) for row in rows), key=repr)


def catalog_tables() -> list[str]:
    """Every read-model table of every catalog projection."""
    return [table for spec in CATALOG for table in spec.tables]


def dump_sqlite(path: str, tables: Iterable[str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row of a SQLite store, normalised and sorted."""
    with sqlite3.connect(path) as conn:
        return {t: _rows(conn.cursor(), t) for t in tables or catalog_tables()}


Rows = dict[str, list[tuple[Any, ...]]]


def dump_postgres(dsn: str, tables: Iterable[str] | None = None) -> Rows:
    """Every read-model row of a PostgreSQL store, normalised and sorted."""
    import psycopg

    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        return {t: _rows(cur, t) for t in tables or catalog_tables()}
