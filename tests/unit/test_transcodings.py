"""Value objects survive the store's JSON (regression: a DFT without FT1-2), and the fast
encoder writes exactly the bytes eventsourcing's JSONTranscoder writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from engine.application.ingestion import Ingestion
from engine.application.transcodings import (
    FastJSONTranscoder,
    FastMapper,
    register_value_transcodings,
)
from engine.domain.values import Coded, FinancialTransaction, Identifier, Money
from tests.messages import a40, adt, dft, oru, siu


class _Text(str):
    pass


def test_a_transaction_without_an_id_decodes() -> None:
    # encode drops empty values to keep events small; decode must restore required ones
    transcoder = JSONTranscoder()
    transcoder.register(DecimalAsStr())
    register_value_transcodings(transcoder)
    charge = FinancialTransaction(
        transaction_id="",
        transaction_type="CG",
        code=Coded("80061", "Lipid panel", "CPT4"),
        extended_amount=Money(Decimal("136.10"), "USD"),
    )
    assert transcoder.decode(transcoder.encode({"t": charge})) == {"t": charge}


def _transcoders() -> tuple[JSONTranscoder, FastJSONTranscoder]:
    """eventsourcing's transcoder and carelog's faster one, with the same transcodings."""
    pair = (JSONTranscoder(), FastJSONTranscoder())
    for transcoder in pair:
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
        register_value_transcodings(transcoder)
    return pair


def _feed() -> list[bytes]:
    """Messages of every supported kind, so that every event class and value type is written."""
    return [
        adt("A05", "C1", name="MÜLLER^ZOË", visit="V1"),
        adt("A01", "C2", visit="V1", location="ICU^1^A^HOSP"),
        adt("A02", "C3", visit="V1", location="WARD\\F\\2^2^B^HOSP"),
        adt("A12", "C4", visit="V1", prior_location="ICU^1^A^HOSP", location="ICU^1^A^HOSP"),
        adt("A06", "C5", visit="V1", patient_class="I"),
        adt("A03", "C6", visit="V1", discharge_time="20240102120000"),
        adt("A13", "C7", visit="V1"),
        adt("A03", "C8", visit="V1"),
        adt("A04", "C9", mrn="MRN2", visit="V2", sex="M", name='O"BRIEN^PAT\\E\\'),
        adt("A11", "C10", mrn="MRN2", visit="V2"),
        adt("A08", "C11", mrn="MRN3", visit="", birth="1975"),
        a40("C12", survivor="MRN1", retired="MRN3"),
        oru("L1", [{1: "1", 2: "NM", 3: "2093-3^Cholesterol^LN", 5: "196", 6: "mg/dL",
                    7: "<200", 8: "N~H", 11: "F", 14: "20240101120000"},
                   {1: "2", 2: "TX", 3: "11502-2^Report^LN", 5: "tab\there\\.br\\end", 11: "F"},
                   {1: "3", 2: "SN", 3: "2571-8^Trig^LN", 5: ">^150", 11: "P"}]),
        oru("L2", [{1: "1", 2: "NM", 3: "2093-3^Cholesterol^LN", 5: "201", 11: "C"}],
            status="C"),
        dft("B1", [{1: "1", 2: "T1", 4: "20240101", 6: "CG", 7: "99213^Office visit^CPT",
                    10: "2", 11: "272.20&USD", 12: "136.10&USD", 19: "I10^Hyp^I10C"},
                   {1: "2", 2: "", 6: "CD", 7: "99213", 10: "-1", 11: "-136.10&USD"}]),
        siu("S12", "S1"), siu("S13", "S2", start="20240102100000"),
        siu("S14", "S3", status="Started", pv1={2: "O", 19: "V9^^^HOSP^VN"}),
        siu("S12", "S4", appointment="A2"), siu("S15", "S5", appointment="A2"),
        siu("S12", "S6", appointment="A3"), siu("S26", "S7", appointment="A3"),
    ]  # fmt: skip


def test_fast_encoder_writes_the_same_bytes_for_every_event_ingestion_stores(
    app: Ingestion,
) -> None:
    reference, fast = _transcoders()
    assert isinstance(app.mapper.transcoder, FastJSONTranscoder)  # ingestion writes with it
    for message in _feed():
        outcome = app.ingest(message, "t")
        assert outcome.ack_code == "AA", (outcome.text, message)
    stored = list(app.recorder.select_notifications(1, 1000))
    assert len({s.topic for s in stored}) >= 14  # most event classes, not just one
    assert isinstance(app.mapper, FastMapper)  # and stores through the lean mapper
    reference_mapper, fast_mapper = Mapper(transcoder=reference), Mapper(transcoder=fast)
    lean_mapper = FastMapper(fast)
    for record in stored:
        event = app.mapper.to_domain_event(record)
        expected = reference_mapper.to_stored_event(event)
        assert fast_mapper.to_stored_event(event) == expected
        assert lean_mapper.to_stored_event(event) == expected
        assert type(lean_mapper.to_stored_event(event).originator_id) is UUID
        assert record.state == expected.state  # what was stored is what eventsourcing stores
        state = dict(vars(event))
        assert fast.encode(state) == reference.encode(state)


@pytest.mark.parametrize(
    "value",
    [
        {"f": 1.5, "u": UUID(int=7)},  # floats: the generic path
        {"s": _Text("sub")},  # a str subclass is written as a string, not transcoded
        {1: "int key"},
        {"flag": True, "none": None, "n": -3, "list": [(), {}], "d": Decimal("1E+2")},
        {"t": datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5)))},
        {"esc": 'quote" back\\ \x00 \x1f \u2028 é 漢 \r\n\t'},
        {"deep": [[{"i": Identifier("1", "A\u00e9")}]]},
    ],
)
def test_fast_encoder_matches_on_edge_values(value: Any) -> None:
    reference, fast = _transcoders()
    assert fast.encode(value) == reference.encode(value)


def test_fast_encoder_refuses_unknown_types_like_the_generic_one() -> None:
    _, fast = _transcoders()
    with pytest.raises(TranscodingNotRegisteredError):
        fast.encode({"x": object()})


class _Thing(Aggregate):
    class Noted(Aggregate.Event):
        text: str
        amount: Any

    class Noted2(Aggregate.Event):
        class_version = 2
        text: str


@pytest.mark.parametrize(
    "event",
    [
        _Thing.Noted(UUID(int=1), 2, datetime(2024, 1, 1, tzinfo=UTC), 'a\\"é', 3),
        _Thing.Noted(UUID(int=1), 3, datetime(2024, 1, 1, tzinfo=UTC), "x", 1.5),
        _Thing.Noted(UUID(int=1), 4, datetime(2024, 1, 1), "x", Decimal("1.10")),
        _Thing.Noted(UUID(int=1), 5, datetime(2024, 1, 1), "x", _Text("sub")),
        _Thing.Noted2(UUID(int=1), 6, datetime(2024, 1, 1), "versioned"),
    ],
)
def test_lean_mapper_stores_what_the_library_stores(event: Any) -> None:
    """Class versions, floats, str subclasses: the lean mapper's bytes are the library's."""
    reference, fast = _transcoders()
    assert FastMapper(fast).to_stored_event(event) == Mapper(reference).to_stored_event(event)
    assert FastMapper(fast).to_domain_event(Mapper(reference).to_stored_event(event)) == event
