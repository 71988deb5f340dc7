"""JSON transcodings for carelog's value objects, registered on every application.

The transcoding names are part of the stored format: renaming one makes old
events unreadable, so they are spelled out here rather than derived.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from engine.domain.values import (
    Coded,
    FinancialTransaction,
    Identifier,
    Location,
    Money,
    ObservationValue,
    PersonName,
)

__all__ = ["register_value_transcodings"]


class _DataclassAsDict(Transcoding):
    """Encodes a frozen dataclass as a dict of its fields (nested values transcode themselves)."""

    def __init__(self, cls: type, name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = tuple(f.name for f in dataclasses.fields(cls))
        # Required fields dropped by encode when empty (a DFT without FT1-2) come back as "".
        self._required = {
            f.name: ""
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }

    def encode(self, obj: Any) -> dict[str, Any]:
        # Empty values are dropped to keep stored events small; decode restores the defaults.
        return {f: v for f in self._fields if (v := getattr(obj, f)) not in ("", (), None)}

    def decode(self, data: dict[str, Any]) -> Any:
        # JSON has no tuples: sequences come back as lists and are made tuples again.
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return self.type(**{**self._required, **values})


def register_value_transcodings(transcoder: JSONTranscoder) -> None:
    """Teaches ``transcoder`` the value objects that domain events carry."""
    for cls, name in (
        (Identifier, "carelog_identifier"),
        (PersonName, "carelog_person_name"),
        (Location, "carelog_location"),
        (Coded, "carelog_coded"),
        (ObservationValue, "carelog_observation_value"),
        (Money, "carelog_money"),
        (FinancialTransaction, "carelog_financial_transaction"),
    ):
        transcoder.register(_DataclassAsDict(cls, name))
