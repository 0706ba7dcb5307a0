"""What ``Runtime.live`` answers: the runs in flight right now.

The local runtime keeps them with an observer on its event tap
(runtime/live.py); ``GET /v1/runs/live`` sends :meth:`LiveReport.to_dict` and
the remote runtime reads it back with :meth:`LiveReport.from_dict`, so the chat
app's dashboard shows the same list locally and through a server.

Times: ``started`` is the run's first event's ISO time; ``elapsed_ms`` is how
long it had run when the report was made (a client ticks on from there with
its own clock: monotonic clocks of two machines cannot be compared).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


@dataclass
class LiveTool:
    """The tool call a run is in: ``state`` is ``approval`` (waiting for an
    answer) or ``running``."""

    call_id: str
    tool: str
    server: str = ""
    state: str = "running"
    #: ISO time the call was requested, and how long ago at the report's time.
    since: str = ""
    elapsed_ms: int = 0


@dataclass
class LiveRun:
    """One run in flight: a turn's, or a delegate's (``parent_run_id`` set)."""

    run_id: str
    session_id: str
    agent: str = ""
    parent_run_id: str | None = None
    #: ``None`` in a report for a user key (user ids are for admins only).
    user_id: str | None = None
    #: The model of its calls, once one reported usage ("" until then).
    model: str = ""
    started: str = ""
    elapsed_ms: int = 0
    tool: LiveTool | None = None
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class LiveReport:
    """The runs in flight at ``at``, oldest first (a turn before its delegates).

    ``user_id`` is the scope: ``None`` for every user's runs (a local or an
    admin caller, whose report carries user ids), else that user's only.
    """

    at: str = ""
    user_id: str | None = None
    runs: list[LiveRun] = field(default_factory=list)

    @property
    def all_users(self) -> bool:
        return self.user_id is None

    @property
    def turns(self) -> list[LiveRun]:
        """The top-level runs (one per user message in flight)."""
        return [r for r in self.runs if not r.parent_run_id]

    def without_user_ids(self) -> LiveReport:
        """The same report with the user ids taken out (for a user key)."""
        return replace(self, runs=[replace(r, user_id=None) for r in self.runs])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiveReport:
        runs = []
        for raw in data.get("runs") or []:
            run = _make(LiveRun, {k: v for k, v in raw.items() if k != "tool"})
            # Numbers as numbers (int() refuses anything else, so a bad answer fails
            # here, where the caller reports it): the dashboard adds to them each tick.
            run.elapsed_ms = int(run.elapsed_ms or 0)
            run.tool_calls = int(run.tool_calls or 0)
            run.input_tokens = int(run.input_tokens or 0)
            run.output_tokens = int(run.output_tokens or 0)
            run.agent, run.model = str(run.agent or ""), str(run.model or "")
            if isinstance(raw.get("tool"), dict):
                tool = run.tool = _make(LiveTool, raw["tool"])
                tool.elapsed_ms = int(tool.elapsed_ms or 0)
                tool.tool, tool.server = str(tool.tool or ""), str(tool.server or "")
            runs.append(run)
        return cls(at=str(data.get("at") or ""), user_id=data.get("user_id"), runs=runs)


def _make(cls: Any, data: dict[str, Any]) -> Any:
    # Fields a newer peer added are ignored, missing ones take their defaults.
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
