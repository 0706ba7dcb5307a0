"""A PostgreSQL connection the SQLite store code can use as it is.

:class:`PgConnection` wraps a psycopg connection (autocommit, so the store's
own ``BEGIN``/``COMMIT`` make its transactions) with the part of
``sqlite3.Connection`` the stores use: ``execute(sql, params)`` with ``?``
placeholders, ``executemany``, rows readable by name and by index
(:class:`PgRow`, a tuple), and ``BEGIN IMMEDIATE`` read as ``BEGIN``. What
the engines spell differently is in its :attr:`~PgConnection.dialect`
(stores/sqldialect.py).

SQLite's ``INSERT OR IGNORE`` and ``INSERT OR REPLACE`` are read as
``INSERT ... ON CONFLICT`` on the table's primary key (looked up once per
table), so code written for SQLite alone (the event log) runs as it is; new
code asks the dialect for its upsert instead.

PostgreSQL text cannot hold NUL characters; a NUL in a parameter is stored
as U+FFFD (the replacement character) instead of failing the write.

As SQLite's busy timeout bounds a wait for another writer, a statement waits
at most :data:`LOCK_TIMEOUT_MS` for a lock and runs at most
:data:`STATEMENT_TIMEOUT_MS` (migrations lift both for their transaction), so
a stuck database fails a request instead of holding it for ever; TCP
keepalives notice a server that went away without closing the connection.
psycopg is imported only when a connection is made (the ``postgres`` part).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from muxi_cli.stores import pgconn
from muxi_cli.stores.sqldialect import Dialect

if TYPE_CHECKING:
    import psycopg

#: Milliseconds a statement may wait for a lock (a row another replica is writing).
LOCK_TIMEOUT_MS = 10_000
#: Milliseconds a statement may run.
STATEMENT_TIMEOUT_MS = 30_000
_OPTIONS = f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS}"
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class PgRow(tuple[Any, ...]):
    """A result row: ``row[0]``, ``row[1:]`` and ``row["name"]``, as ``sqlite3.Row``."""

    _index: dict[str, int]

    def __new__(cls, values: Iterable[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._index[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_maker(cursor: Any) -> Any:
    desc = cursor.description
    index = {d.name: i for i, d in enumerate(desc or ())}
    return lambda values: PgRow(values, index)


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``).

    A ``?`` inside a quoted string or name stays as it is.
    """
    if sql.strip().upper() == "BEGIN IMMEDIATE":
        return "BEGIN"
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


def _clean(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _params(parameters: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(_clean(v) for v in parameters or ())


#: Parameters PostgreSQL can take: a NUL in a string becomes U+FFFD (an id holding
#: one then matches nothing, instead of failing the statement).
clean_params = _params


@functools.cache
def pg_dialect() -> Dialect:
    """PostgreSQL's :class:`Dialect` (imports psycopg: call it once a URL is set)."""
    import psycopg  # deferred: the postgres part, only servers that share a database load it

    return Dialect(
        name="postgresql",
        rowid="n",
        like="ILIKE",
        for_update=" FOR UPDATE",
        json_values="SELECT json_array_elements_text(?::json)",
        error=(psycopg.Error,),
        integrity_error=(psycopg.IntegrityError,),
    )


_OR = re.compile(
    r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?\s*VALUES", re.I
)


class PgConnection:
    """A psycopg connection speaking the store code's SQL (see the module docstring)."""

    def __init__(self, raw: psycopg.Connection[Any], url: str) -> None:
        self.raw = raw
        self.url = url
        self.dialect = pg_dialect()
        self._upserts: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        """``sql`` for psycopg: placeholders translated, SQLite's ``INSERT OR ...`` made
        an ``INSERT ... ON CONFLICT``."""
        found = _OR.match(sql)
        if found is not None:
            sql = self._upserts.get(sql) or self._upserts.setdefault(sql, self._on_conflict(sql))
        return translate(sql)

    def _on_conflict(self, sql: str) -> str:
        found = _OR.match(sql)
        assert found is not None
        how, table, listed = found.group(1).upper(), found.group(2), found.group(4)
        plain = "INSERT INTO" + sql[found.start(2) - 1 :]
        if how == "IGNORE":
            return f"{plain} ON CONFLICT DO NOTHING"
        key = [
            str(r[0])
            for r in self.raw.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (table,),
            )
        ]
        if listed:
            cols = [c.strip() for c in listed.split(",")]
        else:
            cols = [
                str(r[0])
                for r in self.raw.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                    " AND table_schema = current_schema() AND is_identity = 'NO'"
                    " ORDER BY ordinal_position",
                    (table,),
                )
            ]
        return plain + self._conflict_clause(cols, key)

    def _conflict_clause(self, cols: list[str], key: list[str]) -> str:
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        return f" ON CONFLICT ({', '.join(key)}) {action}"

    def execute(self, sql: str, parameters: Sequence[Any] | None = None, /) -> Any:
        cur = self.raw.cursor(row_factory=_row_maker)
        params = _params(parameters)
        if params:
            cur.execute(self._sql(sql), params)
        else:  # no parameters: psycopg reads no placeholders, so a "%" stays as written
            cur.execute(self._sql(sql).replace("%%", "%"))
        return cur

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        rows = [_params(p) for p in parameters]
        cur = self.raw.cursor(row_factory=_row_maker)
        if rows:
            cur.executemany(self._sql(sql), rows)
        return cur

    @property
    def broken(self) -> bool:
        """True once the connection to the server is lost (a new one is needed)."""
        return bool(self.raw.broken or self.raw.closed)

    def close(self) -> None:
        self.raw.close()


def open_pg(url: str) -> PgConnection:
    """A new autocommit connection to ``url`` (a :class:`MuxiError` if it fails)."""
    return PgConnection(pgconn.connect(url, autocommit=True, options=_OPTIONS, **_KEEPALIVE), url)
