"""Stored event state is encrypted per patient: canary, tamper, wrong key, rotation, erasure."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Engine, build
from adapters.crypto.keys import Keyring, MasterKey
from adapters.crypto.mapper import MAGIC
from engine.config import Settings
from engine.errors import ErasedDataError, StoredStateError
from projections.decoding import ERASED, event_decoder
from tests.integration.crypto.canary import Canary

pytestmark = [pytest.mark.native]


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'var' / 'carelog.db'}", **changes)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = build(settings_for(tmp_path))
    yield engine
    engine.close()


def rows(engine: Engine) -> list[tuple[int, str, int, str, bytes]]:
    with sqlite3.connect(engine.settings.sqlite_path()) as db:
        return [
            (r[0], r[1], r[2], r[3], bytes(r[4]))
            for r in db.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events ORDER BY rowid"
            )
        ]


def set_state(engine: Engine, rowid: int, state: bytes) -> None:
    with sqlite3.connect(engine.settings.sqlite_path()) as db:
        db.execute("UPDATE stored_events SET state=? WHERE rowid=?", (state, rowid))


def notifications(engine: Engine) -> list[Any]:
    return list(engine.ingestion.recorder.select_notifications(1, 1000))


def test_stored_state_is_ciphertext_and_reads_back(engine: Engine) -> None:
    canary = Canary.new()
    outcome = engine.ingestion.ingest(canary.a01())
    assert outcome.ack_code == "AA"
    stored = rows(engine)
    assert [t.rsplit(":", 1)[1] for *_, t, _ in stored] == [
        "InboundMessage.Received",
        "Patient.Registered",
        "Encounter.Admitted",
    ]
    for *_, state in stored:
        assert state.startswith(MAGIC)
        assert canary.found_in(state) == []
    # The raw message, the patient and the visit are under the patient's one data key.
    assert len({state[2:18] for *_, state in stored}) == 1
    engine.runner.catch_up()
    (record,) = engine.patients.find_by_identifier(canary.mrn, "HOSP")
    assert canary.family in str(record)
    # The projections' fast decoder and the mapper give the same events.
    fast = event_decoder(engine.ingestion.mapper)
    for n in notifications(engine):
        assert fast(n).__dict__ == engine.ingestion.mapper.to_domain_event(n).__dict__
    assert (engine.settings.key_path() / "master.key").stat().st_mode & 0o777 == 0o600
    assert (engine.settings.key_path() / "keyring.db").stat().st_mode & 0o777 == 0o600


def test_a_later_event_of_a_visit_takes_the_visit_patient_key(tmp_path: Path) -> None:
    canary = Canary.new()
    engine = build(settings_for(tmp_path))
    engine.ingestion.ingest(canary.a01(visit="VISIT1"))
    engine.close()
    engine = build(settings_for(tmp_path))  # a new process: nothing remembered
    a02 = canary.a01(visit="VISIT1").replace(b"ADT^A01^ADT_A01", b"ADT^A02^ADT_A02")
    a02 = a02.replace(b"EVN|A01", b"EVN|A02").replace(canary.control_id.encode(), b"X2")
    assert engine.ingestion.ingest(a02).ack_code == "AA"
    keys = {state[2:18] for *_, state in rows(engine)}
    engine.close()
    assert len(keys) == 1


def test_swapped_states_and_a_flipped_byte_are_detected_with_their_position(
    engine: Engine,
) -> None:
    engine.ingestion.ingest(Canary.new().a01())
    engine.ingestion.ingest(Canary.new().a01())
    first, second = rows(engine)[1], rows(engine)[4]  # two Patient.Registered
    set_state(engine, first[0], second[4])
    set_state(engine, second[0], first[4])
    by_id = {n.id: n for n in notifications(engine)}
    decode = event_decoder(engine.ingestion.mapper)
    with pytest.raises(StoredStateError, match=f"position {first[0]}, aggregate"):
        decode(by_id[first[0]])
    with pytest.raises(StoredStateError, match=f"position {second[0]},"):
        engine.ingestion.mapper.to_domain_event(by_id[second[0]])
    # Nothing is served from it: the read models stop before the bad record.
    with pytest.raises(StoredStateError):
        engine.runner.catch_up()
    assert engine.patients.find_by_identifier(Canary.new().mrn, "HOSP") == []

    third = rows(engine)[2]
    set_state(engine, third[0], third[4][:-1] + bytes([third[4][-1] ^ 1]))
    flipped = {n.id: n for n in notifications(engine)}[third[0]]
    with pytest.raises(StoredStateError, match=f"position {third[0]}, .*fails authentication"):
        decode(flipped)
    for rowid, *_, state in (first, second, third):  # put back: closing catches up once more
        set_state(engine, rowid, state)


def test_a_wrong_master_key_is_named(tmp_path: Path) -> None:
    engine = build(settings_for(tmp_path))
    engine.ingestion.ingest(Canary.new().a01())
    engine.close()
    wrong = MasterKey.generate().text().strip()
    # Refused when the engine starts: nothing is served, nothing new is sealed under it.
    with pytest.raises(StoredStateError, match="wrong master key"):
        build(settings_for(tmp_path, master_key=wrong))
    # A keyring whose rows were wrapped under another key is refused row by row too.
    engine = build(settings_for(tmp_path))
    keyring = engine.ingestion.mapper.keyring  # type: ignore[attr-defined]
    keyring.master = MasterKey.parse(wrong, "test")
    keyring._by_id.clear()
    keyring._by_owner.clear()
    with pytest.raises(StoredStateError, match="wrong master key"):
        event_decoder(engine.ingestion.mapper)(notifications(engine)[0])
    engine.close()


def test_rotation_rewraps_data_keys_without_touching_events(tmp_path: Path) -> None:
    from adapters.crypto.cli import _keys

    settings = settings_for(tmp_path)
    engine = build(settings)
    canary = Canary.new()
    engine.ingestion.ingest(canary.a01())
    before = rows(engine)
    engine.close()
    old = (settings.key_path() / "master.key").read_text()

    class Args:
        store = settings.store
        action = "rotate"

    assert _keys(Args()) == 0  # type: ignore[arg-type]
    assert (settings.key_path() / "master.key").read_text() != old
    engine = build(settings)
    try:
        assert rows(engine) == before
        decoded = [engine.ingestion.mapper.to_domain_event(n) for n in notifications(engine)]
        assert decoded[1].name.family == canary.family
    finally:
        engine.close()
    # The old master key no longer opens the keyring.
    with pytest.raises(StoredStateError, match="wrong master key"):
        Keyring(settings.key_path() / "keyring.db", MasterKey.parse(old, "old"))


def test_forgetting_a_patient_key_erases_only_that_patient(engine: Engine) -> None:
    gone, kept = Canary.new(), Canary.new()
    engine.ingestion.ingest(gone.a01())
    engine.ingestion.ingest(kept.a01())
    engine.runner.catch_up()
    (record,) = engine.patients.find_by_identifier(gone.mrn, "HOSP")
    keyring = engine.ingestion.mapper.keyring  # type: ignore[attr-defined]
    assert keyring.forget([UUID(record.patient_id).hex]) == 1
    by_position = notifications(engine)
    with pytest.raises(ErasedDataError):
        engine.ingestion.mapper.to_domain_event(by_position[0])
    decode = event_decoder(engine.ingestion.mapper)
    assert [decode(n) is ERASED for n in by_position] == [True] * 3 + [False] * 3


def test_a_message_about_an_erased_patient_is_refused_alone(engine: Engine) -> None:
    gone, other = Canary.new(), Canary.new()
    engine.ingestion.ingest(gone.a01())
    engine.runner.catch_up()
    (record,) = engine.patients.find_by_identifier(gone.mrn, "HOSP")
    engine.ingestion.mapper.keyring.forget([UUID(record.patient_id).hex])  # type: ignore[attr-defined]
    engine.ingestion._cache.clear()  # a new process: nothing of the patient in memory
    update = gone.a01().replace(gone.control_id.encode(), b"UPD1")
    update = update.replace(b"ADT^A01^ADT_A01", b"ADT^A08^ADT_A01").replace(b"EVN|A01", b"EVN|A08")
    refused, accepted = engine.ingestion.ingest_many([(update, "t"), (other.a01(), "t")])
    assert refused.ack_code == "AE" and "erased" in refused.text
    assert accepted.ack_code == "AA"
