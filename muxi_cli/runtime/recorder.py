"""Records every finished run, as the runtime's tap sees it, for ``muxi stats``.

:class:`RunRecorder` is an observer of ``LocalRuntime.tap`` (runtime/observe.py).
It folds each turn's events with the protocol reducer (protocol/reduce.py:
the same fold ``muxi chat -o json`` and the server's answers use), a
delegate's nested events into its turn's fold, and when the turn's top-level
run completes or fails it hands the turn's rows (one per run, one per tool
call) to a :class:`~muxi_cli.stores.runs.RunWriter` thread. On the loop it
only folds and queues: a few microseconds per event, no I/O.

Timings come from the loop's monotonic clock as events pass: ``first_token_ms``
is the first text of a run after its start, ``duration_ms`` the run's own
figure (``run.completed``) or, for a failed run, the time to its failure.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from muxi_cli.errors import UsageError
from muxi_cli.protocol.events import (
    Event,
    RunCompleted,
    RunFailed,
    RunStarted,
    TextDelta,
    Usage,
)
from muxi_cli.protocol.reduce import Reducer, RunSummary, ToolCallSummary, TurnSummary
from muxi_cli.protocol.stats import StatsReport, parse_since
from muxi_cli.runtime.observe import EventTap
from muxi_cli.stores.runs import RecallRow, RunRow, RunWriter, Target, ToolRow, connect


@dataclass
class _Turn:
    reducer: Reducer = field(default_factory=Reducer)
    run_ids: list[str] = field(default_factory=list)
    user_id: str = ""
    #: Per run: start (monotonic), start (ISO), first text (ms after start), last model.
    t0: dict[str, float] = field(default_factory=dict)
    started: dict[str, str] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)


class RunRecorder:
    """An event observer that writes each finished turn's runs and tool calls."""

    def __init__(self, writer: RunWriter) -> None:
        self.writer = writer
        self._turns: dict[str, _Turn] = {}

    def __call__(self, event: Event) -> None:
        run_id = event.run_id
        turn = self._turns.get(run_id)
        if turn is None:
            if event.nested:
                turn = self._turns.get(event.parent_run_id or "")
                if turn is None:
                    return  # a delegate of a turn started before the recorder was added
            else:
                turn = _Turn()
            self._turns[run_id] = turn
            turn.run_ids.append(run_id)
        turn.reducer.feed(event)
        now = time.monotonic()
        if run_id not in turn.t0:
            turn.t0[run_id] = now
            turn.started[run_id] = event.ts
        if isinstance(event, TextDelta):
            if run_id not in turn.first:
                turn.first[run_id] = int((now - turn.t0[run_id]) * 1000)
        elif isinstance(event, Usage):
            turn.model[run_id] = event.model
        elif isinstance(event, RunStarted):
            turn.user_id = turn.user_id or (event.user_id or "")
        elif isinstance(event, RunCompleted | RunFailed):
            turn.ended[run_id] = int((now - turn.t0[run_id]) * 1000)
            if not event.nested:
                for rid in turn.run_ids:
                    self._turns.pop(rid, None)
                runs, tools = rows(turn)
                self.writer.put(runs, tools, recall_rows(turn, runs))

    def pending(self) -> int:
        """Turns seen but not finished yet."""
        return len({id(t) for t in self._turns.values()})


def rows(turn: _Turn) -> tuple[list[RunRow], list[ToolRow]]:
    """The rows of a finished turn: its runs (turn first) and its tool calls."""
    s: TurnSummary = turn.reducer.summary
    runs: list[RunRow] = []
    started: dict[str, str] = {}

    def add(run: RunSummary) -> None:
        at = turn.started.get(run.run_id) or turn.started.get(s.run_id, "")
        started[run.run_id] = at
        top = run is s
        route = s.routing if top else None
        scores = [float(m["score"]) for m in s.memories if isinstance(m.get("score"), int | float)]
        status = run.status if run.status in ("completed", "cancelled") else "failed"
        runs.append(
            RunRow(
                run_id=run.run_id,
                parent_run_id=run.parent_run_id,
                session_id=s.session_id,
                user_id=turn.user_id,
                agent=run.agent or "",
                model=turn.model.get(run.run_id, ""),
                status=status,
                error_code=str(run.error.get("code")) if run.error else None,
                started_at=at,
                day=at[:10],
                first_token_ms=turn.first.get(run.run_id),
                duration_ms=(
                    run.duration_ms if run.duration_ms is not None else turn.ended.get(run.run_id)
                ),
                input_tokens=run.usage.input_tokens,
                output_tokens=run.usage.output_tokens,
                cost_usd=run.usage.cost_usd,
                route_method=route.method if route else None,
                route_reason=route.reason if route else None,
                route_cached=int(route.cached) if route else None,
                route_failure=route.failure if route else None,
                router_model=route.router_model if route else None,
                recalls=len(s.memories) if top else 0,
                recall_top=max(scores) if top and scores else None,
                delegations=len(run.runs),
            )
        )
        for child in run.runs:
            add(child)

    add(s)
    tools = [
        ToolRow(
            run_id=call.run_id,
            seq=seq,
            call_id=call.call_id,
            tool=call.tool,
            server=call.server,
            outcome=outcome(call),
            approval_by=call.approval_by,
            decision=call.decision,
            duration_ms=call.duration_ms,
            started_at=started.get(call.run_id, ""),
            user_id=turn.user_id,
        )
        for seq, call in enumerate(s.tool_calls_all)
    ]
    return runs, tools


def recall_rows(turn: _Turn, runs: list[RunRow]) -> list[RecallRow]:
    """The memories the turn recalled (its top run's ``memory.recalled`` items), for
    ``muxi memory stats``: ids and scores only, never the text (the store has it)."""
    s = turn.reducer.summary
    if not s.memories or not runs:
        return []
    top = runs[0]
    out: list[RecallRow] = []
    for seq, item in enumerate(s.memories):
        memory_id = item.get("id")
        if not isinstance(memory_id, str) or not memory_id:
            continue
        score = item.get("score")
        out.append(
            RecallRow(
                run_id=top.run_id,
                seq=seq,
                session_id=top.session_id,
                user_id=top.user_id,
                agent=top.agent,
                memory_id=memory_id,
                kind=str(item.get("kind") or ""),
                score=float(score) if isinstance(score, int | float) else None,
                started_at=top.started_at,
            )
        )
    return out


def outcome(call: ToolCallSummary) -> str:
    """ok, failed, denied, or cancelled (no result: the run ended first)."""
    if call.decision == "denied":
        return "denied"
    if call.ok is None:
        return "cancelled"
    return "ok" if call.ok else "failed"


class RunLog:
    """The run records of one runtime: the recorder on its tap, the writer
    thread, and the stats queries over what they wrote (``path``: the sessions
    database, its SQLite file or PostgreSQL URL)."""

    def __init__(self, tap: EventTap, path: Target) -> None:
        self.path = path
        self.writer = RunWriter(path)
        self.recorder = RunRecorder(self.writer)
        self._detach = tap.add(self.recorder)

    async def stats(
        self, since: str | None = None, by: str = "agent", user_id: str | None = None
    ) -> StatsReport:
        try:
            since_iso = parse_since(since)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return await asyncio.to_thread(self._query, since_iso, by, user_id)

    def _query(self, since: str | None, by: str, user_id: str | None) -> StatsReport:
        from muxi_cli.stores.run_stats import query_stats  # deferred: only `muxi stats`

        self.writer.flush()  # what this process recorded is in the answer
        conn = connect(self.path)
        try:
            return query_stats(conn, since=since, by=by, user_id=user_id)
        finally:
            conn.close()

    async def aclose(self) -> None:
        self._detach()
        await asyncio.to_thread(self.writer.close)
