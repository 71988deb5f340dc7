"""In-memory stand-ins for the engine's ports, for unit tests (never the only test of a path)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from engine.ports import Fault


class FakeMessageValidator:
    """Returns the faults it was given for every message (none by default)."""

    def __init__(self, faults: Sequence[Fault] = ()) -> None:
        self.faults = tuple(faults)
        self.seen: list[bytes] = []

    def validate(self, message: bytes) -> tuple[Fault, ...]:
        self.seen.append(message)
        return self.faults

    def validate_many(self, messages: Sequence[bytes]) -> list[tuple[Fault, ...]]:
        return [self.validate(m) for m in messages]


class FixedClock:
    """A clock that says what it is told."""

    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment
