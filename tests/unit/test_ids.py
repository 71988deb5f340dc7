"""carelog's name-based ids are exactly uuid5 in its namespace (stream ids must never move)."""

from __future__ import annotations

import pickle
from uuid import UUID, uuid5

from hypothesis import given
from hypothesis import strategies as st

from engine.domain.ids import CARELOG_NAMESPACE, _named, message_id_for, patient_id_for
from engine.domain.values import Identifier


@given(st.text(max_size=40))
def test_named_ids_are_uuid5(name: str) -> None:
    try:
        expected = uuid5(CARELOG_NAMESPACE, name)
    except UnicodeEncodeError:  # lone surrogates: neither can encode them
        return
    _named.cache_clear()
    got = _named(name)
    assert got == expected and hash(got) == hash(expected)
    assert (got.version, got.variant, got.is_safe) == (5, expected.variant, expected.is_safe)
    assert str(got) == str(expected) and got.hex == expected.hex
    assert pickle.loads(pickle.dumps(got)) == expected


def test_known_ids_do_not_move() -> None:
    # computed with uuid5 before the fast path: stored streams are keyed by these
    assert message_id_for("EPIC", "GENHOSP", "BENCH00000000") == UUID(
        "7fea045b-8019-509d-945a-29b276cee9d8"
    )
    assert isinstance(patient_id_for(Identifier("100000", "GENHOSP", "MR")), UUID)
    assert patient_id_for(Identifier("Zoë", "HÔP")) == uuid5(
        CARELOG_NAMESPACE, "patient\x1f" + Identifier("Zoë", "HÔP").key()
    )
