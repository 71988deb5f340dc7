"""JSON transcodings for carelog's value objects, registered on every application.

The transcoding names are part of the stored format: renaming one makes old
events unreadable, so they are spelled out here rather than derived.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from engine.domain.values import Identifier, Location, PersonName

__all__ = ["register_value_transcodings"]


class _DataclassAsDict(Transcoding):
    """Encodes a flat frozen dataclass of strings as a dict of its fields."""

    def __init__(self, cls: type, name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = tuple(f.name for f in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        # Empty strings are dropped to keep stored events small; decode restores them.
        return {f: v for f in self._fields if (v := getattr(obj, f))}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


def register_value_transcodings(transcoder: JSONTranscoder) -> None:
    """Teaches ``transcoder`` the value objects that domain events carry."""
    for cls, name in (
        (Identifier, "carelog_identifier"),
        (PersonName, "carelog_person_name"),
        (Location, "carelog_location"),
    ):
        transcoder.register(_DataclassAsDict(cls, name))
