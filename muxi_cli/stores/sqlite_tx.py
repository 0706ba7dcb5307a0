"""The write transaction and the journal-mode switch every SQLite store of muxi uses."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from typing import Any, TypeVar

_C = TypeVar("_C", bound=Any)


@contextlib.contextmanager
def immediate(conn: _C) -> Iterator[_C]:
    """One committed transaction on an autocommit connection, or none at all.

    ``conn`` is a ``sqlite3.Connection`` or a connection speaking its SQL
    (stores/pgsql.py, where ``BEGIN IMMEDIATE`` is a plain ``BEGIN``).

    ``BEGIN IMMEDIATE`` takes the write lock at the start, so two writers
    (threads or processes) wait for each other instead of deadlocking when
    both upgrade a read to a write.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def use_wal(conn: sqlite3.Connection, *, timeout: float = 10.0) -> None:
    """Put the database in WAL mode, waiting up to ``timeout`` s for other writers.

    The switch needs the file to itself, and SQLite fails it at once, without
    its busy handler, while another connection holds the write lock; that is
    what several processes opening a new file together see (one of eight cold
    ``muxi chat`` runs got "database is locked"). So it is retried here.
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
