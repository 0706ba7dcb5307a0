"""The few places the sessions database's SQL differs between SQLite and PostgreSQL.

The store code (sessions.py, session_media.py, runs.py, run_rollup.py,
run_timeline.py, ...) writes portable SQL with ``?`` placeholders and runs it
on a :class:`DbConn`: a ``sqlite3.Connection``, or a
:class:`~muxi_cli.stores.pgsql.PgConnection` that translates the placeholders
and reads rows by name and index as ``sqlite3.Row`` does. Where the engines
differ, the code asks the connection's :class:`Dialect` (:func:`dialect_of`):
an upsert, the insertion-order column, a lock on a row being read for an
update, the list of ids a search passes as JSON, case-insensitive ``LIKE``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class DbConn(Protocol):
    """What the store code uses of a connection (``sqlite3.Connection`` has it)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...

    def close(self) -> None: ...


#: A row of a query: by name (``row["id"]``) and by index (``row[0]``).
DbRow = Any


@dataclass(frozen=True)
class Dialect:
    """One engine's spelling of what is not portable."""

    name: str
    #: A column giving the insertion order of a table's rows (a tie-breaker).
    rowid: str
    #: ``LIKE`` that ignores ASCII case (SQLite's ``LIKE`` already does).
    like: str
    #: Appended to a ``SELECT`` whose rows the transaction goes on to update.
    for_update: str
    #: A subquery of the values of a JSON list passed as one parameter.
    json_values: str
    #: The errors of the driver: any, and a broken constraint.
    error: tuple[type[BaseException], ...]
    integrity_error: tuple[type[BaseException], ...]

    def upsert(self, table: str, cols: Sequence[str], key: Sequence[str]) -> str:
        """``INSERT`` of every column of ``cols`` that replaces the row with the same ``key``."""
        marks = ", ".join("?" * len(cols))
        if self.name == "sqlite":
            return f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({marks})"
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
        conflict = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        return (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
            f" ON CONFLICT ({', '.join(key)}) {conflict}"
        )

    def insert_new(self, table: str, cols: Sequence[str], key: Sequence[str]) -> str:
        """``INSERT`` of every column of ``cols`` that leaves a row with the same ``key`` as it is."""
        marks = ", ".join("?" * len(cols))
        if self.name == "sqlite":
            return f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({marks})"
        return (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
            f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
        )


SQLITE = Dialect(
    name="sqlite",
    rowid="rowid",
    like="LIKE",
    for_update="",
    json_values="SELECT value FROM json_each(?)",
    error=(sqlite3.Error,),
    integrity_error=(sqlite3.IntegrityError,),
)


def dialect_of(conn: object) -> Dialect:
    """The dialect of ``conn``: its own ``dialect``, else SQLite's."""
    found = getattr(conn, "dialect", None)
    return found if isinstance(found, Dialect) else SQLITE


def insert_id(conn: DbConn, sql: str, args: Sequence[Any]) -> int:
    """Run an ``INSERT`` into a table with an ``id`` key; the new row's id."""
    if dialect_of(conn).name == "sqlite":
        return int(conn.execute(sql, args).lastrowid or 0)
    return int(conn.execute(sql + " RETURNING id", args).fetchone()[0])
