"""Replies cut off by a lost replica, on the shared PostgreSQL database.

One machine marks the replies its crashed processes left ``streaming`` as
``interrupted`` when it starts (``SessionStore.recover_interrupted``: a reply
whose writer process is gone). Replicas share the replies, so a starting
replica must not take another machine's reply being written for a crashed
one. Here a reply is cut off only when no live replica runs its turn:

- :func:`recover_interrupted` (a replica starting): replies ``streaming`` whose
  run is not in ``live_runs`` of a replica with a recent heartbeat, not
  written for ``quiet_for`` seconds, and not being written by a live process
  of this machine (a ``muxi chat`` sharing the database runs no registry).
- :func:`reap_dead_replicas` (every heartbeat of every replica): a replica
  that missed :data:`MISSED_BEATS` of its own heartbeats is gone (each replica
  records its interval, so replicas beating at different rates judge each
  other right); exactly one live replica claims
  its rows (turns, waiting approvals and elicitations), marks its turns' partial
  replies ``interrupted`` (what was said is kept) and closes their event logs with a ``run.failed`` saying the replica
  was lost, so a client resuming such a stream ends with a clear error.

The sessions' tables belong to the session store's migrations: a database
without them (keys and control only) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError
from muxi_cli.protocol.events import RunFailed
from muxi_cli.stores.pg_control import PgLink
from muxi_cli.stores.session_rows import writer_alive

if TYPE_CHECKING:
    import psycopg

#: Heartbeats a replica may miss before it counts as gone.
MISSED_BEATS = 4
#: Seconds a reply must have been quiet before a starting replica may mark it
#: (its turn files its run a moment after the reply starts).
QUIET_FOR = 20.0
#: Seconds a long message between replicas is kept for its receiver to take.
MESSAGE_TTL = 60.0
#: The SQL condition "replica ``r`` is alive".
ALIVE = f"r.heartbeat_at > now() - make_interval(secs => r.beat_s * {MISSED_BEATS})"


class ReplicaLost(MuxiError):
    code = "replica_lost"
    http_status = 503


def lost_error() -> ReplicaLost:
    return ReplicaLost(
        "the server replica running this turn stopped before the turn ended",
        hint="what was said so far is saved; send the message again",
    )


def _stamp(moment: datetime) -> str:
    """The sessions' text timestamps (``...Z``, microseconds)."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _has(conn: psycopg.Connection[Any], *tables: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL",
        (list(tables),),
    ).fetchone()
    return row is not None and int(row[0]) == len(tables)


def recover_interrupted(
    link: PgLink | str,
    live: Iterable[int] = (),
    *,
    older_than_s: float | None = None,
    quiet_for: float = QUIET_FOR,
) -> int:
    """Mark the replies no live replica or process writes ``interrupted``; how many.

    ``live``: message ids this store is writing itself. ``older_than_s``: only
    replies not updated for that long (at least ``quiet_for`` in any case: a
    turn files its run just after its reply starts). ``link`` may be the
    database's URL (the session store's ``recover_interrupted`` passes its own)."""
    if isinstance(link, str):
        once = PgLink(link)
        try:
            return recover_interrupted(once, live, older_than_s=older_than_s, quiet_for=quiet_for)
        finally:
            once.close()
    quiet = max(quiet_for, older_than_s or 0.0)
    cutoff = _stamp(datetime.now(UTC) - timedelta(seconds=quiet))
    mine = set(live)
    with link.conn() as conn, conn.transaction():
        if not _has(conn, "messages"):
            return 0
        rows = conn.execute(
            "SELECT m.id, m.writer FROM messages m WHERE m.status = 'streaming' "
            "AND m.updated_at < %s AND NOT EXISTS (SELECT 1 FROM live_runs l "
            f"JOIN replicas r ON r.id = l.replica_id WHERE l.run_id = m.run_id AND {ALIVE}) "
            "FOR UPDATE OF m SKIP LOCKED",
            (cutoff,),
        ).fetchall()
        dead = [int(r[0]) for r in rows if int(r[0]) not in mine and not writer_alive(r[1])]
        if dead:
            conn.execute(
                "UPDATE messages SET status = 'interrupted', writer = NULL WHERE id = ANY(%s)",
                (dead,),
            )
    return len(dead)


def reap_dead_replicas(link: PgLink, me: str) -> list[str]:
    """Claim the replicas that stopped beating and fail their turns; their run ids."""
    with link.conn() as conn, conn.transaction():
        conn.execute(
            f"DELETE FROM replicas r WHERE r.id <> %s AND NOT ({ALIVE})",
            (me,),
        )
        # Rows of a replica that is not registered any more (reaped now or before).
        runs = conn.execute(
            "DELETE FROM live_runs l WHERE NOT EXISTS "
            "(SELECT 1 FROM replicas r WHERE r.id = l.replica_id) RETURNING run_id, session_id"
        ).fetchall()
        for table in ("pending_approvals", "pending_elicitations"):
            conn.execute(
                f"DELETE FROM {table} p WHERE NOT EXISTS "
                "(SELECT 1 FROM replicas r WHERE r.id = p.replica_id)"
            )
        # Long messages between replicas nobody took (server/cluster_wire.py).
        conn.execute(
            "DELETE FROM cluster_messages WHERE sent_at < now() - make_interval(secs => %s)",
            (MESSAGE_TTL,),
        )
        fail_runs(conn, [(str(r[0]), str(r[1])) for r in runs])
    return [str(r[0]) for r in runs]


def fail_runs(conn: psycopg.Connection[Any], runs: list[tuple[str, str]]) -> None:
    """Keep the partial replies of ``runs`` (run id, session id) as ``interrupted``
    and end their event logs with a ``run.failed`` (replica lost)."""
    if not runs:
        return
    ids = [run_id for run_id, _ in runs]
    if _has(conn, "messages"):
        conn.execute(
            "UPDATE messages SET status = 'interrupted', writer = NULL "
            "WHERE status = 'streaming' AND run_id = ANY(%s)",
            (ids,),
        )
    if not _has(conn, "run_streams", "run_events"):
        return
    now = _stamp(datetime.now(UTC))
    error = lost_error().to_dict()
    for run_id, session_id in runs:
        open_ = conn.execute(
            "SELECT 1 FROM run_streams WHERE run_id = %s AND done_at IS NULL FOR UPDATE",
            (run_id,),
        ).fetchone()
        if open_ is None:
            continue  # ended (or never logged): nothing to close
        row = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = %s", (run_id,)
        ).fetchone()
        seq = int(row[0]) + 1 if row else 1
        event = RunFailed(run_id=run_id, session_id=session_id, error=error)
        conn.execute(
            "INSERT INTO run_events (run_id, seq, event, at) VALUES (%s, %s, %s, %s)",
            (run_id, seq, event.to_json(), now),
        )
        conn.execute("UPDATE run_streams SET done_at = %s WHERE run_id = %s", (now, run_id))
