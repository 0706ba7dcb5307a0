"""The write transaction every SQLite store of muxi uses."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One committed transaction on an autocommit connection, or none at all.

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
