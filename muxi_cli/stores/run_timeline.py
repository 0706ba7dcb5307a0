"""A session's timeline from the run records (tables ``runs`` and ``run_tools``).

Three index reads: the session's runs (``runs_by_session``), their tool calls
(``run_tools``' primary key starts with ``run_id``) and the session's user
messages that carry a run id, to show each turn's question. Delegates hang
under their parent by ``parent_run_id``. Blocking: call it from a thread.
"""

from __future__ import annotations

from collections import defaultdict

from muxi_cli.protocol.timeline import TimelineRoute, TimelineTool, TimelineTurn
from muxi_cli.stores.sqldialect import DbConn, dialect_of

#: The longest first line of a message a timeline row carries.
MESSAGE_CHARS = 200
#: SQLite's default limit of host parameters is 999 on older builds.
_CHUNK = 500

_RUNS = (
    "SELECT run_id, parent_run_id, started_at, agent, model, status, error_code,"
    " first_token_ms, duration_ms, input_tokens, output_tokens, cost_usd, route_method,"
    " route_reason, route_cached, route_failure, router_model, recalls, recall_top"
    " FROM runs WHERE session_id = ? ORDER BY started_at, {rowid}"
)
_TOOLS = (
    "SELECT run_id, tool, server, outcome, decision, approval_by, duration_ms, call_id"
    " FROM run_tools WHERE run_id IN ({}) ORDER BY run_id, seq"
)
_ASKED = (
    "SELECT run_id, substr(content, 1, 4000) FROM messages WHERE session_id = ? AND role = 'user'"
    " AND run_id IS NOT NULL ORDER BY seq"
)


def query_timeline(conn: DbConn, session_id: str) -> list[TimelineTurn]:
    """Every recorded turn of ``session_id``, oldest first, delegates nested."""
    runs: dict[str, TimelineTurn] = {}
    for row in conn.execute(_RUNS.format(rowid=dialect_of(conn).rowid), (session_id,)):
        runs[row[0]] = _turn(row)
    ids = list(runs)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for r in conn.execute(_TOOLS.format(", ".join("?" * len(chunk))), chunk):
            runs[r[0]].tools.append(
                TimelineTool(
                    tool=r[1],
                    server=r[2],
                    outcome=r[3],
                    decision=r[4],
                    approval_by=r[5],
                    duration_ms=r[6],
                    call_id=r[7],
                )
            )
    asked: dict[str, str] = {}
    for run_id, content in conn.execute(_ASKED, (session_id,)):
        asked.setdefault(run_id, first_line(content or ""))
    turns: list[TimelineTurn] = []
    children: dict[str, list[TimelineTurn]] = defaultdict(list)
    for run in runs.values():
        parent = run.parent_run_id
        if parent is None:
            run.message = asked.get(run.run_id)
            turns.append(run)
        elif parent in runs:
            children[parent].append(run)
        # A delegate whose parent was never recorded has no place to hang: left out.
    for parent_id, kids in children.items():
        runs[parent_id].delegations = kids
    return turns


def first_line(text: str) -> str:
    """The first non-empty line, clipped to :data:`MESSAGE_CHARS`."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def _turn(row: tuple[object, ...]) -> TimelineTurn:
    (
        run_id,
        parent,
        started,
        agent,
        model,
        status,
        error_code,
        first_ms,
        duration,
        tokens_in,
        tokens_out,
        cost,
        method,
        reason,
        cached,
        failure,
        router_model,
        recalls,
        recall_top,
    ) = row
    route = None
    if method is not None:
        route = TimelineRoute(
            method=str(method),
            reason=str(reason or ""),
            cached=bool(cached),
            failure=str(failure) if failure is not None else None,
            router_model=str(router_model) if router_model is not None else None,
        )
    return TimelineTurn(
        run_id=str(run_id),
        parent_run_id=str(parent) if parent is not None else None,
        started_at=str(started),
        agent=str(agent),
        model=str(model),
        status=str(status),
        error_code=str(error_code) if error_code is not None else None,
        first_token_ms=_int(first_ms),
        duration_ms=_int(duration),
        input_tokens=_int(tokens_in) or 0,
        output_tokens=_int(tokens_out) or 0,
        cost_usd=round(float(cost), 8) if isinstance(cost, int | float) else None,
        route=route,
        recalls=_int(recalls) or 0,
        recall_top=float(recall_top) if isinstance(recall_top, int | float) else None,
    )


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None
