"""Per-projection tracking tables on SQLite.

eventsourcing's SQLite tracking recorder keeps every position in one table
named ``tracking``, keyed by the upstream application's name alone (single-row
tracking). Two projections of the same application would then share one
position, and the second would skip what the first had applied. Each carelog
view on SQLite therefore keeps its position in ``<projection>_tracking``
(PostgreSQL gets the same through a named environment, see the catalog).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.sqlite import SQLiteTrackingRecorder

__all__ = ["SQLiteProjectionTracking"]


class SQLiteProjectionTracking(SQLiteTrackingRecorder):
    """A SQLite tracking recorder whose table is ``tracking_table``, not ``tracking``.

    Subclasses set ``tracking_table`` (the projection's name plus ``_tracking``).
    The library's statements are rewritten once, at construction, so every
    read and write of the position (and the table's creation) uses that table.
    """

    tracking_table: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.tracking_table.isidentifier():
            raise TypeError(f"{type(self).__name__}.tracking_table must name a table")
        self.insert_tracking_statement = self._renamed(self.insert_tracking_statement)
        self.select_max_tracking_id_statement = self._renamed(self.select_max_tracking_id_statement)

    def _renamed(self, statement: str) -> str:
        table = self.tracking_table
        return (
            statement.replace("INSERT INTO tracking ", f"INSERT INTO {table} ")
            .replace("WHERE tracking.", f"WHERE {table}.")
            .replace("FROM tracking ", f"FROM {table} ")
            .replace("CREATE TABLE IF NOT EXISTS tracking ", f"CREATE TABLE IF NOT EXISTS {table} ")
        )

    def construct_create_table_statements(self) -> list[str]:
        return [self._renamed(s) for s in super().construct_create_table_statements()]
