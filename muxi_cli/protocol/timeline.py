"""What ``muxi sessions show ID --timeline`` answers: a session's turns, as rows.

Each finished turn of a session is one :class:`TimelineTurn`, read from the run
records (stores/run_timeline.py; the run recorder, runtime/recorder.py, writes
them when a turn ends): when it started, which agent answered and why (the
routing decision), the model, how it ended, first-token and whole-run time,
tokens, cost, its tool calls and, nested, the runs of the agents it delegated
to (the same shape, recursively). ``GET /v1/sessions/{id}/timeline`` sends
:meth:`TimelineTurn.to_dict` of each turn and the remote runtime reads them
back with :meth:`TimelineTurn.from_dict`, so every surface shows the same rows.

A turn still running is not in the timeline: runs are recorded when they end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: The ``server`` of a tool call that asks another agent (a delegation).
DELEGATE_SERVER = "agent"
#: Approval decisions of a call that never ran.
_NEVER_RAN = frozenset({"denied", "pending"})


@dataclass
class TimelineRoute:
    """How the turn's agent was chosen: ``method`` (``llm``, ``mention``, ...),
    the router's ``reason``, whether the choice came from the route cache, and
    when the router's answer was not used, why (``failure``: a fallback)."""

    method: str = ""
    reason: str = ""
    cached: bool = False
    failure: str | None = None
    router_model: str | None = None

    @property
    def fallback(self) -> bool:
        return self.failure is not None

    def summary(self) -> str:
        """``llm: maths (cached)``, ``default: ... (fallback: no_tool_call)``."""
        text = self.method or "routed"
        if self.reason:
            text += f": {self.reason}"
        notes = ["cached"] if self.cached else []
        if self.failure:
            notes.append(f"fallback: {self.failure}")
        if self.router_model:
            notes.append(f"router {self.router_model}")
        return text + (f" ({', '.join(notes)})" if notes else "")


@dataclass
class TimelineTool:
    """One tool call: ``outcome`` is ok, failed, denied or cancelled (the run
    ended before its result); ``decision``/``approval_by`` say who let it run
    or stopped it (``allowed``/``denied`` by ``policy``, ``user``, ...)."""

    tool: str = ""
    server: str = ""
    outcome: str = ""
    decision: str | None = None
    approval_by: str | None = None
    duration_ms: int | None = None
    call_id: str = ""

    @property
    def label(self) -> str:
        return f"{self.tool} ({self.server})" if self.server else self.tool

    def summary(self) -> str:
        """``calculator (builtin) failed 12ms, allowed by policy``."""
        return f"{self.label} {self.outcome or 'unknown'}{self.detail()}"

    def detail(self) -> str:
        """What follows the outcome: `` 12ms, allowed by policy``."""
        text = ""
        if self.duration_ms is not None and self.outcome in ("ok", "failed"):
            text += f" {format_ms(self.duration_ms)}"
        by = f" by {self.approval_by}" if self.approval_by else ""
        if self.decision == "denied" and self.outcome == "denied":
            text += by  # "denied by policy", not "denied, denied by policy"
        elif self.decision:
            text += f", {self.decision}{by}"
        return text


@dataclass
class TimelineTurn:
    """One run: a turn (``parent_run_id`` None) or, in ``delegations``, a delegate's."""

    run_id: str
    parent_run_id: str | None = None
    #: ISO time of the run's first event.
    started_at: str = ""
    agent: str = ""
    #: The model that answered (the last one when a run used several).
    model: str = ""
    #: completed, failed or cancelled; ``error_code`` when not completed.
    status: str = "completed"
    error_code: str | None = None
    first_token_ms: int | None = None
    duration_ms: int | None = None
    #: This run's own model calls (a delegate's are in its own row).
    input_tokens: int = 0
    output_tokens: int = 0
    #: ``None``: no price known for the model.
    cost_usd: float | None = None
    #: The routing decision (top-level runs that were routed).
    route: TimelineRoute | None = None
    #: Memories recalled for the turn, and the best score among them.
    recalls: int = 0
    recall_top: float | None = None
    tools: list[TimelineTool] = field(default_factory=list)
    delegations: list[TimelineTurn] = field(default_factory=list)
    #: The first line of the user's message (top-level runs, when it is stored).
    message: str | None = None

    def walk(self) -> list[TimelineTurn]:
        """This run and every delegate under it, depth first."""
        out = [self]
        for child in self.delegations:
            out.extend(child.walk())
        return out

    @property
    def total_input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.walk())

    @property
    def total_output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.walk())

    @property
    def total_cost_usd(self) -> float | None:
        """The turn's cost with its delegates'; ``None`` when no run had a price."""
        costs = [r.cost_usd for r in self.walk() if r.cost_usd is not None]
        return round(sum(costs), 6) if costs else None

    def steps(self) -> list[tuple[TimelineTool | None, TimelineTurn | None]]:
        """The tool calls in order, each delegation call with the run it started
        (the n-th call of the ``agent`` server to an agent that ran, not denied, with
        that agent's n-th delegate run); a delegate run no call matches comes last
        as ``(None, run)``."""
        left = list(self.delegations)
        out: list[tuple[TimelineTool | None, TimelineTurn | None]] = []
        for tool in self.tools:
            run = None
            # A call denied, or cut off while waiting for approval, started no run.
            if tool.server == DELEGATE_SERVER and tool.decision not in _NEVER_RAN:
                run = next((r for r in left if r.agent == tool.tool), None)
                if run is not None:
                    left.remove(run)
            out.append((tool, run))
        out.extend((None, run) for run in left)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimelineTurn:
        turn: TimelineTurn = _make(cls, data)
        route = data.get("route")
        turn.route = _make(TimelineRoute, route) if isinstance(route, dict) else None
        turn.tools = [_make(TimelineTool, t) for t in data.get("tools") or []]
        turn.delegations = [cls.from_dict(d) for d in data.get("delegations") or []]
        return turn


def format_ms(value: int | None) -> str:
    """``-``, ``850ms``, ``2.3s``."""
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value}ms"


def timeline_dict(session_id: str, turns: list[TimelineTurn]) -> dict[str, Any]:
    """The JSON answer of the route and of ``--timeline --json``."""
    return {"session_id": session_id, "turns": [t.to_dict() for t in turns]}


def _make(cls: Any, data: dict[str, Any]) -> Any:
    # Fields a newer peer added are ignored, missing ones take their defaults.
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
