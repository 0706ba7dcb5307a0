"""The one fold of a turn's event stream into a summary.

``muxi chat -o json``, the server's non-streaming ``POST /v1/chat`` answer and
the chat app's status bar all read a :class:`TurnSummary` built here, so they
cannot disagree.

**The usage rule.** A ``usage`` event counts the model calls its own run made,
once: the router's call is a ``usage`` event of the top-level run (before the
agent answers), an agent's calls of all its tool rounds are one ``usage``
event at the end of its run, and a delegate's calls are the ``usage`` event of
its nested run, never included in its parent's. So the turn's total is the
sum of every ``usage`` event, nested ones included; ``by_model`` splits it by
model. A run that fails or is cancelled before its end emits no ``usage``
event, so its calls are not in the total. ``model.call`` events repeat each
call's own tokens for timing and traces: they are never added to the totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from muxi_cli.protocol.events import (
    AgentRouted,
    AudioDelta,
    Event,
    MediaFailed,
    MediaProcessed,
    MemoryRecalled,
    ModelCall,
    Notice,
    RunCompleted,
    RunFailed,
    RunStarted,
    SamplingRequested,
    TextDelta,
    ToolApproval,
    ToolRequested,
    ToolResult,
    TranscriptDelta,
    Usage,
)
from muxi_cli.protocol.usage import UsageTotals

CANCELLED_CODE = "cancelled"


@dataclass
class ToolCallSummary:
    """One tool call and what became of it (``None``: not seen yet)."""

    call_id: str
    run_id: str
    agent: str | None = None
    server: str = ""
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    decision: str | None = None
    #: Who decided (``policy``, ``user``...), with ``decision``.
    approval_by: str | None = None
    ok: bool | None = None
    content: str | None = None
    duration_ms: int | None = None

    def to_dict(self, *, with_agent: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call_id": self.call_id,
            "server": self.server,
            "tool": self.tool,
            "arguments": self.arguments,
        }
        if with_agent:
            out["agent"] = self.agent
        if self.decision is not None:
            out["decision"] = self.decision
        if self.ok is not None:
            out.update(ok=self.ok, content=self.content, duration_ms=self.duration_ms)
        return out


@dataclass
class RunSummary:
    """One run of the turn: the top-level agent's or a delegate's.

    ``usage`` holds only the run's own ``usage`` events; ``runs`` are the
    delegates it started, in order.
    """

    run_id: str = ""
    agent: str | None = None
    parent_run_id: str | None = None
    depth: int = 0
    status: str = "incomplete"
    error: dict[str, Any] | None = None
    duration_ms: int | None = None
    usage: UsageTotals = field(default_factory=UsageTotals)
    tool_calls: list[ToolCallSummary] = field(default_factory=list)
    #: The run's model calls (``model.call``), in order: timing only, their
    #: tokens are already in ``usage``.
    model_calls: list[ModelCall] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    #: ``run.completed``'s text (the whole reply) once the run completed.
    final_text: str | None = None
    deltas: list[str] = field(default_factory=list)

    @property
    def reply(self) -> str:
        """The whole reply once completed, else what was streamed so far."""
        return self.final_text if self.final_text is not None else "".join(self.deltas)


@dataclass
class TurnSummary(RunSummary):
    """A whole turn: the top-level run's fields, plus the turn's totals.

    ``total_usage`` is every model call of the turn (the usage rule in the
    module docstring); ``tool_calls_all`` every tool call of every run, in
    the order they were requested.
    """

    session_id: str = ""
    total_usage: UsageTotals = field(default_factory=UsageTotals)
    routing: AgentRouted | None = None
    memories: list[dict[str, Any]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    tool_calls_all: list[ToolCallSummary] = field(default_factory=list)
    #: Some tool call (of any run) was denied.
    denied: bool = False
    #: Attachments processed for this turn (``media.processed``/``media.failed``).
    media: list[MediaProcessed | MediaFailed] = field(default_factory=list)
    #: What was heard of a spoken turn: final utterances joined, then the
    #: utterance still being heard.
    transcript: str = ""
    #: The spoken reply's chunks (base64 each) in order, and their type.
    audio: list[str] = field(default_factory=list)
    audio_type: str | None = None


class Reducer:
    """Folds events one at a time (a live view), or a whole list via :func:`reduce`."""

    def __init__(self) -> None:
        self.summary = TurnSummary()
        self._runs: dict[str, RunSummary] = {}
        self._calls: dict[tuple[str, str], ToolCallSummary] = {}
        self._said: list[str] = []
        self._heard = ""

    def _run(self, event: Event) -> RunSummary:
        s = self.summary
        if not event.nested:
            if not s.run_id:
                s.run_id = event.run_id
                self._runs[event.run_id] = s
            return s
        run = self._runs.get(event.run_id)
        if run is None:
            run = RunSummary(
                run_id=event.run_id, parent_run_id=event.parent_run_id, depth=event.depth
            )
            self._runs[event.run_id] = run
            self._runs.get(event.parent_run_id or "", s).runs.append(run)
        return run

    def _call(self, run: RunSummary, call_id: str, new: bool = False) -> ToolCallSummary:
        # Providers repeat call ids across answers (``call_0``): key by run too,
        # and a second request under the same key (a later tool round of the same
        # run) is a new call, not the old one overwritten.
        key = (run.run_id, call_id)
        call = self._calls.get(key)
        if call is None or (new and call.tool):
            call = ToolCallSummary(call_id=call_id, run_id=run.run_id, agent=run.agent)
            self._calls[key] = call
            run.tool_calls.append(call)
            self.summary.tool_calls_all.append(call)
        return call

    def run(self, run_id: str) -> RunSummary | None:
        """The summary of run ``run_id`` (the turn's or a delegate's), once seen."""
        return self._runs.get(run_id)

    def call(self, run_id: str, call_id: str) -> ToolCallSummary | None:
        """The tool call ``call_id`` of run ``run_id``, once seen."""
        return self._calls.get((run_id, call_id))

    def feed(self, event: Event) -> TurnSummary:
        s = self.summary
        if not event.nested and event.session_id:
            s.session_id = event.session_id
        if not event.known:
            return s
        run = self._run(event)
        top = run is s
        if isinstance(event, (RunStarted, AgentRouted)):
            run.agent = event.agent or run.agent
            if isinstance(event, AgentRouted) and top:
                s.routing = event
        elif isinstance(event, MemoryRecalled):
            if top:
                s.memories = [dict(i) for i in event.items]
        elif isinstance(event, TextDelta):
            run.deltas.append(event.text)
        elif isinstance(event, ToolRequested):
            call = self._call(run, event.call_id, new=True)
            call.server, call.tool, call.arguments = event.server, event.tool, event.arguments
        elif isinstance(event, SamplingRequested):
            # A server's sampling request is decided like a call (tool.approval of
            # its sampling id): listed as the call ``SERVER/sampling``.
            call = self._call(run, event.sampling_id, new=True)
            call.server, call.tool = event.server, "sampling"
            call.arguments = {"model": event.model, "messages": list(event.messages)}
        elif isinstance(event, ToolApproval):
            call = self._call(run, event.call_id)
            call.decision, call.approval_by = event.decision, event.by
            s.denied = s.denied or event.decision == "denied"
        elif isinstance(event, ToolResult):
            call = self._call(run, event.call_id)
            call.ok, call.content, call.duration_ms = event.ok, event.content, event.duration_ms
        elif isinstance(event, ModelCall):
            run.model_calls.append(event)
        elif isinstance(event, Usage):
            run.usage.add_event(event)
            s.total_usage.add_event(event, top_level=top)
        elif isinstance(event, Notice):
            s.notices.append(event)
        elif isinstance(event, MediaProcessed | MediaFailed):
            s.media.append(event)
        elif isinstance(event, TranscriptDelta):
            if top:
                self._heard = event.text if not event.final else ""
                if event.final:
                    self._said.append(event.text)
                s.transcript = " ".join([*self._said, self._heard]).strip()
        elif isinstance(event, AudioDelta):
            if top:
                s.audio.append(event.data)
                s.audio_type = event.media_type
        elif isinstance(event, RunCompleted):
            run.status = "completed"
            run.final_text = event.text
            run.duration_ms = event.duration_ms
        elif isinstance(event, RunFailed):
            run.status = "cancelled" if event.code == CANCELLED_CODE else "failed"
            run.error = dict(event.error)
        return s


def reduce(events: Iterable[Event]) -> TurnSummary:
    """The summary of a whole (or partial) turn's events."""
    reducer = Reducer()
    for event in events:
        reducer.feed(event)
    return reducer.summary
