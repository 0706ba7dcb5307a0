"""The server's control tables in the shared PostgreSQL database, and a link to it.

Replicas of ``muxi serve`` that share a database (``MUXI_DATABASE_URL``) keep
here what one process would keep in its own memory or files: the API keys
(:mod:`muxi_cli.stores.pg_keys`), the replicas alive and the turns each runs
(:mod:`muxi_cli.server.cluster`), pending approvals and elicitations, the
replicas' long messages, rate-limit buckets and the route cache.

The tables have a migration list of their own, versioned in
``muxi_control_version`` (the sessions' tables keep theirs elsewhere), applied
under an advisory lock so replicas starting together migrate once; a database
migrated by a newer muxi is refused rather than misread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import ConfigError, MuxiError
from muxi_cli.stores import pgconn

if TYPE_CHECKING:
    import psycopg

#: ``pg_advisory_lock`` key of these migrations ("muxi_ctl" in ASCII): not the sessions'.
MIGRATION_LOCK = 0x6D7578695F63746C

MIGRATIONS: list[str] = [
    # 1: keys, replicas and their turns, pending approvals, rate buckets, route cache.
    """
    CREATE TABLE muxi_keys (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        beat_s DOUBLE PRECISION NOT NULL DEFAULT 5,
        host TEXT
    );
    CREATE TABLE live_runs (
        run_id TEXT PRIMARY KEY,
        replica_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX live_runs_replica ON live_runs (replica_id);
    CREATE INDEX live_runs_user ON live_runs (user_id);
    CREATE TABLE pending_approvals (
        call_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        turn_run_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        replica_id TEXT NOT NULL,
        asked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, call_id)
    );
    CREATE INDEX pending_approvals_call ON pending_approvals (call_id);
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        ok BOOLEAN NOT NULL,
        full_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX rate_buckets_full ON rate_buckets (full_at);
    CREATE TABLE route_cache (
        key TEXT PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        agent TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX route_cache_at ON route_cache (at);
    """,
    # 2: keys made in the same millisecond list in the order they were made (the file
    # store keeps its insertion order; ordering ties by the random id shuffled them).
    """
    ALTER TABLE muxi_keys ADD COLUMN seq BIGSERIAL;
    """,
    # 3: elicitations waiting for an answer, filed like approvals (an answer reaching
    # another replica finds the turn's), and the replicas' messages too long for NOTIFY.
    """
    CREATE TABLE pending_elicitations (
        elicitation_id TEXT NOT NULL,
        turn_run_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        replica_id TEXT NOT NULL,
        asked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (turn_run_id, elicitation_id)
    );
    CREATE INDEX pending_elicitations_id ON pending_elicitations (elicitation_id);
    CREATE INDEX pending_elicitations_replica ON pending_elicitations (replica_id);
    CREATE TABLE cluster_messages (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        sent_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX cluster_messages_sent ON cluster_messages (sent_at);
    """,
]


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the control tables to the newest version; returns it."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS muxi_control_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM muxi_control_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > len(MIGRATIONS):
            raise ConfigError(
                f"the database's control tables are at version {current}, newer than this "
                f"muxi knows ({len(MIGRATIONS)})",
                hint="upgrade muxi on this machine to the version the other replicas run",
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            conn.execute(MIGRATIONS[version - 1])
            conn.execute("INSERT INTO muxi_control_version VALUES (%s)", (version,))
    return len(MIGRATIONS)


#: Milliseconds a statement of the server's control may take: a request waits on it.
STATEMENT_TIMEOUT_MS = 5_000


DatabaseUnavailable = pgconn.DatabaseUnavailable


class ReplicaUnreachable(MuxiError):
    """The replica running a turn did not answer a request sent to it (server/cluster.py)."""

    code = "replica_unreachable"
    http_status = 503


class PgLink:
    """One connection to the shared database for synchronous callers.

    Opened (and the control tables migrated) on first use; a thread lock keeps
    one statement or transaction at a time on it; a connection the server
    dropped is reopened once per call. ``durable=False`` (counters, caches: a
    request waits on every write) commits without waiting for the disk: a
    database crash may lose the last fraction of a second of them.
    """

    def __init__(self, url: str, *, durable: bool = True) -> None:
        self.url = url
        self.durable = durable
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()

    def _open(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
                if not self.durable:
                    options += " -c synchronous_commit=off"
                conn = pgconn.connect(self.url, options=options)
            except MuxiError as exc:
                raise DatabaseUnavailable(exc.message, hint=exc.hint) from exc
            migrate(conn)
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def conn(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection, held for the ``with`` block (dropped if the block lost it)."""
        import psycopg  # deferred: the postgres part (pgconn.connect checks it)

        with self._lock:
            try:
                yield self._open()
            except psycopg.OperationalError:
                self._drop()  # the next call opens a new one
                raise

    def _drop(self) -> None:
        with contextlib.suppress(Exception):
            if self._conn is not None:
                self._conn.close()
        self._conn = None

    def execute(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run one statement (retried once on a dropped connection); its rows."""
        import psycopg  # deferred: the postgres part (pgconn.connect checked it)

        with self._lock:
            for attempt in (1, 2):
                conn = self._open()
                try:
                    cur = conn.execute(sql, params)
                    return cur.fetchall() if cur.description is not None else []
                except psycopg.OperationalError as exc:
                    # A statement that timed out is not retried; a lost connection is, once.
                    if attempt == 2 or isinstance(exc, psycopg.errors.QueryCanceled):
                        raise DatabaseUnavailable(
                            f"the shared database did not answer: {str(exc).strip()}",
                            hint="check that the database server is up; retry in a moment",
                        ) from exc
                    self._drop()
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
