"""The runs in flight, kept by an observer of the runtime's event tap.

:class:`LiveRuns` sees every event of every turn this process runs
(runtime/observe.py), so it knows each run from its ``run.started`` to its
``run.completed`` or ``run.failed`` (a cancel or a crash ends a turn with
``run.failed`` too: the tap sees it). When a turn ends, its delegates go with
it even if their own end never came (a cancel stops them mid-way). On the loop
it only updates a few fields per event: no I/O, no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from muxi_cli.protocol.events import (
    AgentRouted,
    Event,
    ModelCall,
    RunCompleted,
    RunFailed,
    RunStarted,
    ToolApproval,
    ToolRequested,
    ToolResult,
    Usage,
    now_iso,
)
from muxi_cli.protocol.live import LiveReport, LiveRun, LiveTool
from muxi_cli.runtime.observe import EventTap


@dataclass
class _Call:
    call_id: str
    tool: str
    server: str
    since: str
    t0: float
    state: str = "running"


@dataclass
class _Run:
    run_id: str
    session_id: str
    agent: str
    user_id: str | None
    parent_run_id: str | None
    #: The turn's run id (itself for a turn): a turn's end ends its delegates.
    root: str
    started: str
    t0: float
    model: str = ""
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    #: Tokens of model calls counted since the run's last ``usage`` event, which
    #: counts them again (the usage rule): taken off when it comes.
    calls_in: int = 0
    calls_out: int = 0
    #: Calls requested and not answered yet, in the order they were requested.
    open: dict[str, _Call] = field(default_factory=dict)


#: The event types that change what :class:`LiveRuns` keeps.
_WATCHED = frozenset(
    {
        RunStarted,
        AgentRouted,
        ToolRequested,
        ToolApproval,
        ToolResult,
        ModelCall,
        Usage,
        RunCompleted,
        RunFailed,
    }
)


class LiveRuns:
    """An event observer that keeps every run in flight; :meth:`report` lists them."""

    def __init__(self, tap: EventTap | None = None, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._runs: dict[str, _Run] = {}
        self._detach = tap.add(self) if tap is not None else None

    def __call__(self, event: Event) -> None:
        if type(event) not in _WATCHED:
            return  # text, media, notices: most events of a turn, one set lookup each
        if isinstance(event, RunStarted):
            self._start(event)
            return
        run = self._runs.get(event.run_id)
        if run is None:
            return  # a run that started before this observer was added
        if isinstance(event, AgentRouted):
            run.agent = event.agent or run.agent
        elif isinstance(event, ToolRequested):
            run.tool_calls += 1
            run.open[event.call_id] = _Call(
                event.call_id, event.tool, event.server, event.ts, self._clock()
            )
        elif isinstance(event, ToolApproval):
            call = run.open.get(event.call_id)
            if call is not None:
                if event.decision == "pending":
                    call.state = "approval"
                elif event.decision == "denied":
                    del run.open[event.call_id]  # a denied call never runs
                else:
                    call.state = "running"
        elif isinstance(event, ToolResult):
            run.open.pop(event.call_id, None)
        elif isinstance(event, ModelCall):  # the model and tokens as each call ends
            run.model = event.model or run.model
            run.input_tokens += event.input_tokens
            run.output_tokens += event.output_tokens
            run.calls_in += event.input_tokens
            run.calls_out += event.output_tokens
        elif isinstance(event, Usage):
            run.model = event.model or run.model
            run.input_tokens += max(event.input_tokens - run.calls_in, 0)
            run.output_tokens += max(event.output_tokens - run.calls_out, 0)
            run.calls_in = run.calls_out = 0
        elif isinstance(event, RunCompleted | RunFailed):
            self._end(run)

    def _start(self, event: RunStarted) -> None:
        parent = self._runs.get(event.parent_run_id or "")
        self._runs[event.run_id] = _Run(
            run_id=event.run_id,
            session_id=event.session_id,
            agent=event.agent,
            # A delegate's run.started may not carry the user: it is its turn's.
            user_id=event.user_id or (parent.user_id if parent else None),
            parent_run_id=event.parent_run_id,
            root=parent.root if parent else event.run_id,
            started=event.ts,
            t0=self._clock(),
        )

    def _end(self, run: _Run) -> None:
        self._runs.pop(run.run_id, None)
        if not run.parent_run_id:
            for rid in [r.run_id for r in self._runs.values() if r.root == run.run_id]:
                del self._runs[rid]

    def __len__(self) -> int:
        return len(self._runs)

    def report(self, user_id: str | None = None) -> LiveReport:
        """The runs in flight (``user_id``'s only, when given), oldest first."""
        now = self._clock()
        runs = [
            _live(r, now)
            for r in sorted(self._runs.values(), key=lambda r: r.t0)
            if user_id is None or r.user_id == user_id
        ]
        return LiveReport(at=now_iso(), user_id=user_id, runs=runs)

    def close(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None


def _live(run: _Run, now: float) -> LiveRun:
    return LiveRun(
        run_id=run.run_id,
        session_id=run.session_id,
        agent=run.agent,
        parent_run_id=run.parent_run_id,
        user_id=run.user_id,
        model=run.model,
        started=run.started,
        elapsed_ms=int((now - run.t0) * 1000),
        tool=_current(run, now),
        tool_calls=run.tool_calls,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
    )


def _current(run: _Run, now: float) -> LiveTool | None:
    """The call to show: one waiting for approval first (someone must act),
    else the latest one requested."""
    if not run.open:
        return None
    calls = list(run.open.values())
    call = next((c for c in calls if c.state == "approval"), calls[-1])
    return LiveTool(
        call_id=call.call_id,
        tool=call.tool,
        server=call.server,
        state=call.state,
        since=call.since,
        elapsed_ms=int((now - call.t0) * 1000),
    )
