"""Filters for LanceDB ``where`` clauses, built only from escaped values.

LanceDB takes filters as SQL text. A filter built by pasting a caller's string
(``f"user_id = '{uid}'"``) lets ``u7' OR '1'='1`` read every user's rows, so
every value goes through :func:`sql_str` and every column name through
:func:`_column`, and callers combine the resulting fragments with :func:`and_`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def sql_str(value: str) -> str:
    """``value`` as a SQL string literal: single quotes, inner quotes doubled.

    LanceDB's SQL dialect treats backslashes literally in ``'...'`` strings and
    accepts any other character (unicode, NUL) as is, so doubling ``'`` is the
    whole of the escaping.
    """
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return "'" + value.replace("'", "''") + "'"


def _column(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a column name: {name!r}")
    return name


def eq(column: str, value: str) -> str:
    """``column = 'value'``."""
    return f"{_column(column)} = {sql_str(value)}"


def in_(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')`` (``FALSE`` for no values)."""
    items = [sql_str(v) for v in values]
    if not items:
        return "FALSE"
    if len(items) == 1:
        return f"{_column(column)} = {items[0]}"
    return f"{_column(column)} IN ({', '.join(items)})"


def is_null(column: str) -> str:
    return f"{_column(column)} IS NULL"


def and_(*parts: str | None) -> str:
    """Join fragments with ``AND`` (``None`` parts are skipped)."""
    kept = [f"({p})" for p in parts if p]
    return " AND ".join(kept) if kept else "TRUE"
