"""Two `carelog serve` processes on one PostgreSQL database, writing the same patients.

Their group commits conflict (same patient aggregates, same message ids sent to
both): optimistic concurrency must make the loser decide again, so every
message is answered AA and stored exactly once, and each patient registered once.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter

import psycopg
import pytest

from adapters.mllp.client import MLLPClient, ack_code_of
from tests.e2e.server import ServeProcess, carelog_command
from tests.messages import adt

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PATIENTS = 5
PER_LANE = 60


def test_two_processes_on_one_database_store_each_message_once(postgres_url: str) -> None:
    serves = [ServeProcess(postgres_url).start() for _ in range(2)]
    codes: list[str] = []
    try:

        def lane(n: int) -> None:
            port = serves[n % 2].mllp_port
            with MLLPClient("127.0.0.1", port, timeout_s=60) as client:
                for i in range(PER_LANE):
                    # Lanes n and n+1 send the same messages to different processes.
                    control = f"L{n // 2}-{i}"
                    msg = adt(
                        "A01",
                        control,
                        mrn=f"MRN{i % PATIENTS}",
                        name=f"DOE^JANE{i % 3}",
                        visit=f"V{n // 2}-{i}",
                    )
                    codes.append(ack_code_of(client.send(msg)))

        threads = [threading.Thread(target=lane, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        leading = sorted(len(s.events("projection.leading")) for s in serves)
        sealing = sorted(len(s.events("seal.leading")) for s in serves)
    finally:
        for serve in serves:
            serve.stop()
    assert Counter(codes) == {"AA": 4 * PER_LANE}
    # One process ran the projections and one the sealer; the other left them to it
    # (no duplicate work).
    assert leading == [0, 1]
    assert sealing == [0, 1]
    env = {**os.environ, "CARELOG_STORE": postgres_url, "CARELOG_LOG_LEVEL": "warning"}
    verify = subprocess.run(
        [*carelog_command(), "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "not sealed" not in verify.stdout  # the sealing serve sealed the other's too

    with psycopg.connect(postgres_url) as conn:
        topics = Counter(
            t.rsplit(".", 1)[1]
            for (t,) in conn.execute("SELECT topic FROM carelog_events").fetchall()
        )
        versions = conn.execute(
            "SELECT originator_id, count(*), max(originator_version) FROM carelog_events "
            "GROUP BY originator_id"
        ).fetchall()
        patients = conn.execute("SELECT count(*) FROM patients_v1").fetchone()
    distinct_messages = 2 * PER_LANE  # each sent twice, to both processes
    assert topics["Received"] == distinct_messages
    assert topics["Registered"] == PATIENTS
    assert topics["Admitted"] == distinct_messages  # one visit per message
    assert all(count == top for _, count, top in versions), "a gap or a duplicate version"
    assert patients == (PATIENTS,)
