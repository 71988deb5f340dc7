"""The runner's decoder (projections.decoding) gives exactly the mapper's events, or its errors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper, MapperDeserialisationError

from engine.application.ingestion import Ingestion
from projections.decoding import event_decoder
from tests.integration import visit_scenario
from tests.integration.read_models import billing_scenario
from tests.scenario import STAY


def _stored(app: Ingestion) -> list:
    head = app.recorder.max_notification_id()
    return list(app.recorder.select_notifications(1, head))


def test_every_stored_event_decodes_as_the_mapper_decodes_it(app: Ingestion) -> None:
    for message in (*STAY, *visit_scenario.ALL, *billing_scenario.MESSAGES):
        app.ingest(message, "test")
    decode = event_decoder(app.mapper)
    assert decode != app.mapper.to_domain_event  # the fast decoder, not the fallback
    stored = _stored(app)
    topics = {n.topic for n in stored}
    assert len(topics) > 10  # patients, visits, reports, accounts, messages
    for n in stored:
        expected, actual = app.mapper.to_domain_event(n), decode(n)
        assert type(actual) is type(expected)
        assert vars(actual) == vars(expected)
        assert {k: type(v) for k, v in vars(actual).items()} == {
            k: type(v) for k, v in vars(expected).items()
        }


def test_a_broken_stored_event_raises_the_mappers_error(app: Ingestion) -> None:
    app.ingest(STAY[0], "test")
    broken = replace(_stored(app)[0], state=b'{"timestamp": {"_type_": "nope", "_data_": 1}}')
    with pytest.raises(MapperDeserialisationError) as expected:
        app.mapper.to_domain_event(broken)
    with pytest.raises(MapperDeserialisationError) as actual:
        event_decoder(app.mapper)(broken)
    assert str(actual.value) == str(expected.value)


def test_a_mapper_or_transcoder_that_decodes_otherwise_is_used_as_it_is(app: Ingestion) -> None:
    class Custom(Mapper):  # type: ignore[type-arg]
        def to_domain_event(self, stored_event: Any) -> Any:
            return super().to_domain_event(stored_event)

    custom = Custom(app.mapper.transcoder)
    assert event_decoder(custom) == custom.to_domain_event

    class Lenient(JSONTranscoder):
        def decode(self, data: bytes) -> Any:
            return super().decode(data)

    lenient = Mapper(Lenient())
    assert event_decoder(lenient) == lenient.to_domain_event
    ciphered = Mapper(app.mapper.transcoder, cipher=object())  # type: ignore[arg-type]
    assert event_decoder(ciphered) == ciphered.to_domain_event
