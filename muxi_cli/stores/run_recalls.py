"""Recall figures of one user from ``run_recalls`` (sessions database, migration 7).

The run recorder writes one row per memory a turn recalled (runtime/recorder.py);
these queries read them by user (index ``run_recalls_by_user``). Blocking: call
from a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from muxi_cli.protocol.memstats import RecallCount, RecentRecall
from muxi_cli.stores.sqldialect import DbConn


@dataclass
class RecallFigures:
    recalls: int = 0
    turns: int = 0
    top: list[RecallCount] = field(default_factory=list)
    recent: list[RecentRecall] = field(default_factory=list)


def recall_figures(conn: DbConn, user_id: str, *, top: int = 10, recent: int = 20) -> RecallFigures:
    """Totals, the ``top`` most recalled memories and the ``recent`` latest recalls."""
    total, turns = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT run_id) FROM run_recalls WHERE user_id = ?", (user_id,)
    ).fetchone()
    most = conn.execute(
        "SELECT memory_id, COUNT(*) AS n, MAX(started_at) AS last, AVG(score)"
        " FROM run_recalls WHERE user_id = ?"
        " GROUP BY memory_id ORDER BY n DESC, last DESC, memory_id LIMIT ?",
        (user_id, top),
    ).fetchall()
    latest = conn.execute(
        "SELECT started_at, session_id, memory_id, agent, score FROM run_recalls"
        " WHERE user_id = ? ORDER BY started_at DESC, run_id, seq LIMIT ?",
        (user_id, recent),
    ).fetchall()
    return RecallFigures(
        recalls=int(total or 0),
        turns=int(turns or 0),
        top=[
            RecallCount(
                memory_id=m,
                count=int(n),
                last_at=str(last or ""),
                avg_score=None if avg is None else round(float(avg), 4),
            )
            for m, n, last, avg in most
        ],
        recent=[
            RecentRecall(
                at=str(at),
                session_id=str(sid),
                memory_id=str(m),
                agent=str(agent or ""),
                score=None if score is None else round(float(score), 4),
            )
            for at, sid, m, agent, score in latest
        ],
    )
