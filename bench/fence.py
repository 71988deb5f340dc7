"""`python -m bench.fence`: carelog's fenced fast paths against eventsourcing's public ones.

The eventsourcing fence (tests/unit/test_eventsourcing_fence.py) keeps carelog's
uses of the library's private names in a few modules; each is worth keeping
only while the public path is slower. This times both on the same work, median
of ROUNDS rounds (CPU time for the in-process work, wall time for inserts):
creating an aggregate (lean ``create`` against ``_create``,
the library's documented way), decoding stored events (carelog's decoder
against the plain ``Mapper``), and inserting a commit of events (carelog's
recorder against the library's, on SQLite; on PostgreSQL too when
CARELOG_TEST_POSTGRES_DSN is set, plus the library's ``POSTGRES_ENABLE_DB_FUNCTIONS``
insert).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    InfrastructureFactory,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.utils import Environment

from engine.application.ingestion import Ingestion
from engine.application.transcodings import register_value_transcodings
from engine.config import Settings
from engine.domain.lean import create
from engine.domain.patient import Patient
from engine.domain.values import Identifier, PersonName
from projections.decoding import event_decoder
from tests.fakes import FakeMessageValidator, FixedClock
from tests.integration import visit_scenario
from tests.scenario import STAY

ROUNDS = 5


def _median_us(
    work: Callable[[], Any], n: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, float, float]:
    """Median, min and max per call over ROUNDS rounds of ``n`` calls, on ``clock``."""
    times = []
    for _ in range(ROUNDS):
        started = clock()
        for _ in range(n):
            work()
        times.append((clock() - started) / n * 1e6)
    return statistics.median(times), min(times), max(times)


def _show(label: str, ours: tuple[float, float, float], theirs: tuple[float, float, float]) -> None:
    print(
        f"{label:<48} carelog {ours[0]:8.1f} us ({ours[1]:.1f}-{ours[2]:.1f})   "
        f"public {theirs[0]:8.1f} us ({theirs[1]:.1f}-{theirs[2]:.1f})   "
        f"public/carelog {theirs[0] / ours[0]:.2f}"
    )


def _plain_mapper() -> Mapper[Any]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_value_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def creating() -> None:
    fields = {
        "identifiers": (Identifier("100001", "GENHOSP", "MR"),),
        "name": PersonName(family="MILLER", given="MARY", use="L"),
        "birth_date": "1960-02-18",
        "sex": "F",
        "occurred_at": None,
        "source_message_id": uuid4(),
    }
    aid = uuid4()
    cpu = time.process_time  # CPU work only: the machine is shared
    ours = _median_us(lambda: create(Patient, Patient.Registered, aid, **fields), 20000, cpu)
    public = _median_us(lambda: Patient._create(Patient.Registered, id=aid, **fields), 20000, cpu)
    _show("create a Patient", ours, public)


def decoding() -> None:
    app = Ingestion(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        validator=FakeMessageValidator(),
        clock=FixedClock(),
    )
    for message in (*STAY, *visit_scenario.ALL):
        app.ingest(message, "bench")
    stored = list(app.recorder.select_notifications(1, app.recorder.max_notification_id()))
    decode, plain = event_decoder(app.mapper), _plain_mapper()
    cpu = time.process_time
    ours = _median_us(lambda: [decode(s) for s in stored], 1000, cpu)
    public = _median_us(lambda: [plain.to_domain_event(s) for s in stored], 1000, cpu)
    n = len(stored)
    per = lambda t: (t[0] / n, t[1] / n, t[2] / n)  # noqa: E731
    _show(f"decode a stored event (of {n})", per(ours), per(public))


def _commit(n: int) -> list[StoredEvent]:
    aid = uuid4()
    return [
        StoredEvent(aid, v, "engine.domain.patient:Patient.Registered", b"{}" * 100)
        for v in range(1, n + 1)
    ]


def _insert_bench(label: str, ours: Any, public: Any, extra: Any = None) -> None:
    for size in (4, 64):  # one message's events; a group commit's
        result_ours = _median_us(lambda n=size: ours.insert_events(_commit(n)), 100)
        result_public = _median_us(lambda n=size: public.insert_events(_commit(n)), 100)
        _show(f"{label}, {size} events", result_ours, result_public)
        if extra is not None:
            _show(
                f"{label}, {size} events, db functions",
                result_ours,
                _median_us(lambda n=size: extra.insert_events(_commit(n)), 100),
            )


def inserting() -> None:
    from adapters.sqlite_store import RECORDER_TOPIC

    with tempfile.TemporaryDirectory() as tmp:
        env = Settings(store=f"sqlite:///{tmp}/x.db").eventsourcing_env()
        public = InfrastructureFactory.construct(
            Environment("a", {**env, "SQLITE_DBNAME": str(Path(tmp) / "a.db")})
        ).application_recorder()
        ours = InfrastructureFactory.construct(
            Environment(
                "b",
                {
                    **env,
                    "SQLITE_DBNAME": str(Path(tmp) / "b.db"),
                    "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
                },
            )
        ).application_recorder()
        _insert_bench("SQLite: insert a commit", ours, public)
    dsn = os.environ.get("CARELOG_TEST_POSTGRES_DSN")
    if dsn:
        from adapters.postgres_store import RECORDER_TOPIC as PG

        env = Settings(store=dsn).eventsourcing_env()
        public = InfrastructureFactory.construct(Environment("fa", env)).application_recorder()
        ours = InfrastructureFactory.construct(
            Environment("fb", {**env, "APPLICATION_RECORDER_TOPIC": PG})
        ).application_recorder()
        functions = InfrastructureFactory.construct(
            Environment("fc", {**env, "POSTGRES_ENABLE_DB_FUNCTIONS": "y"})
        ).application_recorder()
        _insert_bench("PostgreSQL: insert a commit", ours, public, functions)


def main() -> None:
    print(
        f"python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}, "
        f"median (min-max) of {ROUNDS} rounds"
    )
    creating()
    decoding()
    inserting()


if __name__ == "__main__":
    main()
