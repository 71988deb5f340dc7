"""The fast path of ingestion: the event cache, optimistic duplicate detection, bulk reads.

Each shortcut must give the same answers as the slow path: a resend is AA and
adds nothing even when applying it again would be refused; another writer on
the same store is never hidden by the cache; a batch of new patients costs one
store read, not one per aggregate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import Engine, build
from adapters.sqlite_store import SQLiteEventRecorder
from engine.config import Settings
from engine.domain.ids import patient_id_for
from engine.domain.patient import Patient
from engine.domain.values import Identifier
from tests.fakes import FakeMessageValidator
from tests.messages import adt

MRN1 = patient_id_for(Identifier("MRN1", "HOSP", "MR"))


def engine_for(store: str) -> Engine:
    return build(Settings(store=store), validator=FakeMessageValidator())


def topics(engine: Engine) -> list[str]:
    notes = engine.ingestion.recorder.select_notifications(1, 10_000)
    return [n.topic.rsplit(":", 1)[1] for n in notes]


def test_resend_of_an_applied_discharge_is_aa_not_ae(store_url: str) -> None:
    engine = engine_for(store_url)
    ingest = engine.ingestion
    assert ingest.ingest(adt("A01", "1")).ack_code == "AA"
    discharge = adt("A03", "2", discharge_time="20240102120000")
    assert ingest.ingest(discharge).ack_code == "AA"
    before = topics(engine)
    # Applied again, the discharge of a finished visit would be refused (AE 207);
    # as a resend (same MSH-3/4/10) it is AA and changes nothing.
    again = ingest.ingest(discharge)
    assert (again.ack_code, again.duplicate) == ("AA", True)
    outcomes = ingest.ingest_many([(discharge, "x"), (adt("A08", "3", name="DOE^JOAN"), "y")])
    assert [(o.ack_code, o.duplicate) for o in outcomes] == [("AA", True), ("AA", False)]
    assert topics(engine) == [*before, "InboundMessage.Received", "Patient.DemographicsUpdated"]
    engine.close()


def test_resend_inside_a_group_commit_does_not_hold_the_others_back(store_url: str) -> None:
    engine = engine_for(store_url)
    ingest = engine.ingestion
    first = adt("A01", "1")
    assert ingest.ingest(first).ack_code == "AA"
    batch = [(first, "a"), (adt("A04", "2", mrn="MRN2", visit="V2"), "b"), (adt("A08", "3"), "c")]
    outcomes = ingest.ingest_many(batch)
    assert [(o.ack_code, o.duplicate) for o in outcomes] == [
        ("AA", True),
        ("AA", False),
        ("AA", False),
    ]
    assert topics(engine).count("InboundMessage.Received") == 3
    assert topics(engine).count("Patient.Registered") == 2
    assert outcomes[1].last_notification_id is not None
    engine.close()


def test_another_writer_on_the_same_file_is_never_hidden_by_the_cache(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    a, b = engine_for(store), engine_for(store)
    assert a.ingestion.ingest(adt("A04", "1", name="DOE^JANE")).ack_code == "AA"  # A caches v1
    assert b.ingestion.ingest(adt("A08", "2", name="DOE^JOAN")).ack_code == "AA"  # v2, behind A
    # To A's cached v1 this message changes nothing; the stored patient is JOAN.
    assert a.ingestion.ingest(adt("A08", "3", name="DOE^JANE")).ack_code == "AA"
    patient = a.ingestion.repository.get(MRN1)
    assert isinstance(patient, Patient) and patient.name.given == "JANE"
    assert topics(a).count("Patient.DemographicsUpdated") == 2
    # And a conflicting write (both change the same patient) is settled, not lost.
    assert b.ingestion.ingest(adt("A08", "4", name="DOE^JO")).ack_code == "AA"
    assert a.ingestion.ingest(adt("A08", "5", name="DOE^JAN")).ack_code == "AA"
    assert a.ingestion.repository.get(MRN1).name.given == "JAN"
    a.close()
    b.close()


def test_a_batch_of_new_patients_is_read_in_one_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    recorder = engine.ingestion.recorder
    assert isinstance(recorder, SQLiteEventRecorder)
    calls: dict[str, int] = {"one": 0, "many": 0, "head": 0}
    asked: list[int] = []
    one, many, head = (
        recorder.select_events,
        recorder.select_head_and_events,
        recorder.max_notification_id,
    )

    def count_one(*args: Any, **kwargs: Any) -> Any:
        calls["one"] += 1
        return one(*args, **kwargs)

    def count_many(ids: Any) -> Any:
        calls["many"] += 1
        asked.append(len(ids))
        return many(ids)

    def count_head() -> Any:
        calls["head"] += 1
        return head()

    monkeypatch.setattr(recorder, "select_events", count_one)
    monkeypatch.setattr(recorder, "select_head_and_events", count_many)
    monkeypatch.setattr(recorder, "max_notification_id", count_head)
    batch = [(adt("A01", f"C{n}", mrn=f"M{n}", visit=f"V{n}"), "t") for n in range(16)]
    assert {o.ack_code for o in engine.ingestion.ingest_many(batch)} == {"AA"}
    # the head check and the 32 aggregates: one read, no other
    assert calls == {"one": 0, "many": 1, "head": 0}
    # The same patients again, new visits: everything known is in the cache.
    batch = [(adt("A01", f"D{n}", mrn=f"M{n}", visit=f"W{n}"), "t") for n in range(16)]
    assert {o.ack_code for o in engine.ingestion.ingest_many(batch)} == {"AA"}
    assert calls == {"one": 0, "many": 2, "head": 0}
    assert asked == [32, 16]  # only the 16 new visits were asked for
    engine.close()


def test_head_and_events_are_read_in_one_snapshot(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    recorder = engine.ingestion.recorder
    assert isinstance(recorder, SQLiteEventRecorder)
    assert recorder.select_head_and_events([MRN1]) == (0, [])
    assert engine.ingestion.ingest(adt("A04", "1")).ack_code == "AA"
    assert engine.ingestion.ingest(adt("A08", "2", name="DOE^JOAN")).ack_code == "AA"
    head, stored = recorder.select_head_and_events([MRN1])
    assert head == recorder.max_notification_id()
    assert stored == recorder.select_events(MRN1)
    assert [s.originator_version for s in stored] == [1, 2]
    assert recorder.select_head_and_events([]) == (head, [])
    # more ids than one statement binds (500): one read transaction, the same answer
    padding = [patient_id_for(Identifier(f"X{n}", "HOSP", "MR")) for n in range(600)]
    assert recorder.select_head_and_events([*padding, MRN1]) == (head, stored)
    engine.close()


def test_the_writer_keeps_reusing_the_connection_it_returned_last(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    pool = engine.ingestion.recorder.datastore.pool
    a = pool.get_connection(is_writer=False)
    b = pool.get_connection(is_writer=False)
    pool.put_connection(a)
    pool.put_connection(b)
    # eventsourcing's pool lends the one idle longest (a), whose page cache other
    # connections' commits made stale; this one lends the one used last (b)
    again = pool.get_connection(is_writer=False)
    assert again is b
    pool.put_connection(again)
    assert engine.ingestion.ingest(adt("A04", "1")).ack_code == "AA"
    assert pool.get_connection(is_writer=False) is b
    engine.close()


def test_select_events_many_groups_each_aggregate_in_version_order(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    ingest = engine.ingestion
    ingest.ingest(adt("A04", "1", mrn="A", visit="VA"))
    ingest.ingest(adt("A04", "2", mrn="B", visit="VB"))
    ingest.ingest(adt("A08", "3", mrn="A", name="DOE^JO"))
    ids = [patient_id_for(Identifier(m, "HOSP", "MR")) for m in ("A", "B", "NOBODY")]
    # More ids than one statement binds (500): chunks must not lose any.
    padding = [patient_id_for(Identifier(f"X{n}", "HOSP", "MR")) for n in range(1200)]
    recorder = ingest.recorder
    assert isinstance(recorder, SQLiteEventRecorder)
    stored = recorder.select_events_many([*padding, *ids])
    assert [(s.originator_id, s.originator_version) for s in stored] == sorted(
        [(ids[0], 1), (ids[0], 2), (ids[1], 1)], key=lambda pair: (pair[0].hex, pair[1])
    )
    engine.close()


def test_read_models_commit_without_fsync_and_events_with(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    view: Any = engine.patients
    with view.datastore.transaction(commit=False) as c:
        c.execute("PRAGMA synchronous")
        assert c.fetchone()[0] == 1  # NORMAL: rebuilt from the events if a power cut loses it
    with engine.ingestion.recorder.datastore.transaction(commit=False) as c:
        c.execute("PRAGMA synchronous")
        assert c.fetchone()[0] == 2  # FULL: an acknowledged message survives a power cut
        c.execute("PRAGMA journal_mode")
        assert c.fetchone()[0] == "wal"
    engine.close()
