"""SavedFilters: an operator's named searches of the console's message log.

A saved filter may name a business key (an MRN, a visit number): patient data.
So filters are events in the event store, like everything else that may hold
PHI: encrypted at rest by the same mapper (under the shared data key, as they
name no patient id), sealed, and never copied into a plain read model. One
aggregate per operator (its id derived from the operator's subject), so the
console reads one person's filters with one lookup by id.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from engine.domain.lean import create

__all__ = ["MAX_FILTERS", "SavedFilters", "saved_filters_id"]

_NAMESPACE = UUID("0b8e8f3a-6a52-4c1e-9d59-3f1e51f7c2a4")
MAX_FILTERS = 50
"""How many filters one operator keeps (a console list, not a data store)."""


def saved_filters_id(subject: str) -> UUID:
    """The id of ``subject``'s saved filters."""
    return uuid5(_NAMESPACE, f"saved-filters:{subject}")


class SavedFilters(Aggregate):
    """One operator's saved filters: name -> the message page's query string."""

    class Started(Aggregate.Created):
        """The operator's first save."""

        owner: str

    class Saved(Aggregate.Event):
        """A filter saved (or saved again under the same name, replacing it)."""

        name: str
        query: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SavedFilters)
            aggregate.filters = {**aggregate.filters, self.name: self.query}  # never in place

    class Removed(Aggregate.Event):
        """A filter removed by its owner."""

        name: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SavedFilters)
            aggregate.filters = {k: v for k, v in aggregate.filters.items() if k != self.name}

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.filters: dict[str, str] = {}

    @classmethod
    def start(cls, owner: str) -> SavedFilters:
        """The (empty) saved filters of ``owner``."""
        return create(cls, cls.Started, saved_filters_id(owner), owner=owner)

    def save(self, name: str, query: str) -> None:
        """Saves ``query`` under ``name``; refuses a new name beyond MAX_FILTERS."""
        if self.filters.get(name) == query:
            return
        if name not in self.filters and len(self.filters) >= MAX_FILTERS:
            raise ValueError(f"at most {MAX_FILTERS} saved filters: remove one first")
        self.trigger_event(self.Saved, name=name, query=query)

    def remove(self, name: str) -> None:
        """Removes the filter ``name`` (nothing when absent)."""
        if name in self.filters:
            self.trigger_event(self.Removed, name=name)
