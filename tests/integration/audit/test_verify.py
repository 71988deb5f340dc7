"""Seals and verify: an intact store passes; altered, deleted and rewritten records are
caught at their own position; an unsealed tail (a crash before sealing) is not tampering."""

from __future__ import annotations

from typing import Any

from adapters.bootstrap import Engine
from projections.audit import Sealer, verify
from tests.integration.audit.helpers import engine_with_stay, events_table, execute, position_of


def check(engine: Engine, sealer: Sealer | None = None) -> Any:
    app = engine.ingestion
    postgres = engine.settings.backend == "postgres"
    return verify(app.recorder, app.mapper, sealer or engine.sealer, holes_allowed=postgres)


def faults(report: Any) -> list[tuple[int, str]]:
    return [(f.position, f.kind) for f in report.faults]


def test_an_intact_store_verifies_and_an_unsealed_tail_is_not_tampering(
    durable_store_url: str,
) -> None:
    engine = engine_with_stay(durable_store_url)
    head = engine.ingestion.recorder.max_notification_id()
    report = check(engine)
    assert report.intact and report.records == head and report.unsealed_from == 1
    assert engine.sealer.seal() == head
    report = check(engine)
    assert report.intact and report.sealed_up_to == head and report.unsealed_from == 0
    # events committed after the last seal (as after a crash before sealing)
    engine.ingestion.ingest(
        b"MSH|^~\\&|HIS|HOSP|C|HOSP|20240102||ADT^A08^ADT_A01|S8|P|2.5.1\r"
        b"EVN|A08|20240102\rPID|1||MRN1^^^HOSP^MR||DOE^JANET\r",
        "test",
    )
    report = check(engine)
    assert report.intact and report.unsealed_from == head + 1 and report.head > head
    assert engine.sealer.seal() == report.head - head
    assert check(engine).unsealed_from == 0
    engine.close()


def test_a_changed_record_is_caught_at_its_position(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url)
    engine.sealer.seal()
    table, column = events_table(durable_store_url)
    k = position_of(engine, "Encounter.Transferred")
    (state,) = execute(durable_store_url, f"SELECT state FROM {table} WHERE {column}=%s", (k,))[0]
    tampered = bytes(state)[:-1] + bytes([bytes(state)[-1] ^ 1])  # ciphertext: flip a byte
    execute(durable_store_url, f"UPDATE {table} SET state=%s WHERE {column}=%s", (tampered, k))
    report = check(engine)
    # The seal chain breaks there, and the record no longer decrypts.
    assert faults(report) == [(k, "altered"), (k, "undecodable")] and report.first_bad == k
    engine.close()


def test_a_deleted_record_is_caught_at_its_position(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url)
    engine.sealer.seal()
    table, column = events_table(durable_store_url)
    k = position_of(engine, "LabReport.Reported")
    execute(durable_store_url, f"DELETE FROM {table} WHERE {column}=%s", (k,))
    report = check(engine)
    assert report.first_bad == k and (k, "deleted") in faults(report)
    engine.close()


def test_a_deleted_last_record_is_caught(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url)
    engine.sealer.seal()
    table, column = events_table(durable_store_url)
    head = engine.ingestion.recorder.max_notification_id()
    execute(durable_store_url, f"DELETE FROM {table} WHERE {column}=%s", (head,))
    assert faults(check(engine)) == [(head, "deleted")]
    engine.close()


def test_an_altered_raw_message_is_caught_sealed_or_not(durable_store_url: str) -> None:
    # Plain stored state (CARELOG_ENCRYPTION=off): the raw text can be edited in place,
    # and the sha256 beside it tells. Encrypted, any edit fails to decrypt (next test).
    engine = engine_with_stay(durable_store_url, encryption=False)
    table, column = events_table(durable_store_url)
    k = position_of(engine, "InboundMessage.Received", 2)  # the ORU
    (state,) = execute(durable_store_url, f"SELECT state FROM {table} WHERE {column}=%s", (k,))[0]
    execute(
        durable_store_url,
        f"UPDATE {table} SET state=%s WHERE {column}=%s",
        (bytes(state).replace(b"196", b"296"), k),
    )
    assert faults(check(engine)) == [(k, "raw-altered")]  # unsealed: the sha256 still tells
    engine.close()


def test_an_unsealed_flipped_byte_is_caught_by_decryption(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url)
    table, column = events_table(durable_store_url)
    k = position_of(engine, "InboundMessage.Received", 2)
    (state,) = execute(durable_store_url, f"SELECT state FROM {table} WHERE {column}=%s", (k,))[0]
    flipped = bytes(state)[:40] + bytes([bytes(state)[40] ^ 1]) + bytes(state)[41:]
    execute(durable_store_url, f"UPDATE {table} SET state=%s WHERE {column}=%s", (flipped, k))
    report = check(engine)
    assert faults(report) == [(k, "undecodable")] and report.first_bad == k
    assert "fails authentication" in report.faults[0].text
    engine.close()


def test_seals_need_the_same_key(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url)
    recorder = engine.ingestion.recorder
    assert Sealer(recorder, b"first key").seal() > 0
    assert check(engine, Sealer(recorder, b"first key")).intact
    report = check(engine, Sealer(recorder, b"another key"))
    assert report.first_bad == 1 and {kind for _, kind in faults(report)} == {"altered"}
    engine.close()


def test_an_event_whose_message_is_gone_is_caught(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url)
    table, column = events_table(durable_store_url)
    k = position_of(engine, "InboundMessage.Received", 1)  # the A02's message
    execute(durable_store_url, f"DELETE FROM {table} WHERE {column}=%s", (k,))
    report = check(engine)
    assert (k + 1, "orphan") in faults(report)  # the transfer names a message not stored
    assert report.first_bad == (k + 1 if durable_store_url.startswith("postgres") else k)
    engine.close()


def test_a_record_that_no_longer_decodes_is_caught(durable_store_url: str) -> None:
    engine = engine_with_stay(durable_store_url)
    table, column = events_table(durable_store_url)
    k = position_of(engine, "Patient.Registered")
    execute(durable_store_url, f"UPDATE {table} SET state=%s WHERE {column}=%s", (b"{not json", k))
    assert faults(check(engine)) == [(k, "undecodable")]
    engine.close()
