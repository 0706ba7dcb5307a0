"""Sessions and their messages in PostgreSQL, shared by every replica of a server.

:class:`PgSessionStore` is the :class:`~muxi_cli.stores.sessions.SessionStore`
with its connection to a PostgreSQL database (stores/pgsql.py) instead of a
SQLite file: the same code, the same SQL where it is portable, the
differences in the connection's dialect (stores/sqldialect.py). The schema is
migrated on open (stores/pg_schema.py).

SQLite has one writer at a time; here several replicas write at once, so the
store locks what its writes read before they update it: the session's row
while a message is added (its ``seq`` is the next one) or the session
deleted, a message's row while it is updated, and, per owner, the media
references (a transaction-level advisory lock), so that deleting a session
never deletes a file another session of the owner is starting to refer to.

The media bytes stay in the :class:`~muxi_cli.stores.media.MediaStore` of the
formation's ``media:`` (object storage when replicas share it), its index in
the data folder. A lost connection (the database restarted) is replaced: at
once when the connection was idle for a while (it is checked first), else
after the one call that found it gone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from muxi_cli import paths
from muxi_cli.errors import MuxiError
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_schema import migrate
from muxi_cli.stores.pgconn import DatabaseUnavailable, redacted
from muxi_cli.stores.pgsql import PgConnection, open_pg, pg_dialect
from muxi_cli.stores.sessions import SessionStore
from muxi_cli.stores.sqldialect import DbConn

if TYPE_CHECKING:
    from muxi_cli.config.schema import MediaConfig


class PgSessionStore(SessionStore):
    """The session store on the PostgreSQL database at ``url``. Thread-safe; opened on first use."""

    #: Seconds idle after which the connection is checked before it is used.
    ping_after = 5.0

    def __init__(
        self,
        url: str,
        *,
        media_config: MediaConfig | None = None,
        data_path: Path | None = None,
    ) -> None:
        # The data folder's sessions path: its folder holds the media (and their index).
        super().__init__(data_path or paths.sessions_db_path(), media_config=media_config)
        self.url = url
        self.database = url
        self._dialect = pg_dialect()
        self._used = time.monotonic()

    def _open(self) -> DbConn:
        conn = open_pg(self.url)
        try:
            migrate(conn)
        except self._dialect.error as exc:
            conn.close()
            raise self._db_error(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _db_error(self, exc: BaseException) -> MuxiError:
        import psycopg  # deferred: the postgres part (a connection was made)

        # A lost connection or a statement timeout: a 503 the client may retry.
        kind = DatabaseUnavailable if isinstance(exc, psycopg.OperationalError) else MuxiError
        return kind(
            f"The sessions database {redacted(self.url)} could not be used: {str(exc).strip()}.",
            hint="Check that the database server is up and MUXI_DATABASE_URL "
            "(or --database-url) names it; muxi reconnects on the next request.",
        )

    def _drop_if_broken(self) -> None:
        db = self._db
        if isinstance(db, PgConnection) and db.broken:
            with contextlib.suppress(Exception):
                db.close()
            self._db = None

    def _fresh(self) -> DbConn:
        """The connection; after :attr:`ping_after` idle seconds, first checked with
        a ``SELECT 1`` and replaced if the server dropped it meanwhile (a restart,
        a failover), so the request after a quiet spell does not fail for it."""
        now = time.monotonic()
        if self._db is not None and now - self._used > self.ping_after:
            try:
                self._db.execute("SELECT 1")
            except self._dialect.error:
                self._drop_if_broken()
        if self._db is None:
            self._db = self._open()
        self._used = now
        return self._db

    @contextlib.contextmanager
    def _read(self) -> Iterator[DbConn]:
        with self._lock:
            conn = self._fresh()
            try:
                yield conn
            except self._dialect.error as exc:
                self._drop_if_broken()  # the server went away: the next call connects again
                raise self._db_error(exc) from exc

    def recover_interrupted(self, older_than_s: float | None = None) -> int:
        """Mark the replies no live replica or process is writing ``interrupted``.

        Replicas share the replies: a reply another replica streams is left
        alone while that replica's heartbeat is recent (stores/pg_recovery.py,
        the replica registry); one whose replica is gone is marked."""
        from muxi_cli.stores.pg_recovery import recover_interrupted  # deferred: servers only

        with self._read():  # opened and migrated: the messages table exists
            pass
        try:
            return recover_interrupted(self.url, set(self._live), older_than_s=older_than_s)
        except self._dialect.error as exc:
            raise self._db_error(exc) from exc

    def _lock_media(self, conn: DbConn, owner: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("muxi.media:" + owner,))

    def _uses_fts(self, query: str) -> bool:
        return False  # ILIKE everywhere (the pg_trgm index serves it): see pg_schema.py


def session_store(
    path: Path | None = None,
    *,
    media_config: MediaConfig | None = None,
    database_url: str | None = None,
) -> SessionStore:
    """The session store: on PostgreSQL when ``database_url`` or ``MUXI_DATABASE_URL``
    names a database (stores/pgconn.py), else in the SQLite file at ``path``."""
    url = pgconn.database_url(database_url)
    if url is None:
        return SessionStore(path, media_config=media_config)
    return PgSessionStore(url, media_config=media_config, data_path=path)
