"""Turns a turn's events into OpenTelemetry spans and GenAI client metrics.

:class:`SpanBuilder` is an observer on the runtime's event tap (runtime/observe.py),
so it sees exactly what a front end sees and nothing more. Span and attribute
names follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``, ``mcp.*``);
what they do not name is under ``muxi.*``. Each span gets its start and end time
from the events' timestamps, so building them late changes nothing.

What the events show, and so what the spans are:

- ``invoke_agent {agent}``: the run, from ``run.started`` to its end; a delegate's
  run is a child of the parent's ``execute_tool`` span that delegated to it.
- ``muxi.route``: from the start to ``agent.routed`` (top-level runs only).
- ``muxi.memory.recall``: from routing to ``memory.recalled``.
- ``chat {model}``: each model call, from its ``model.call`` event (sent when
  the call ended, with its duration, time to first chunk and tokens). A call cut
  off by a failure sends none: it is taken to have started when the run was last
  ready to call the model (after routing, recall or the last tool result) and
  gets the failure.
- ``execute_tool {tool}``: from ``tool.requested`` to ``tool.result`` (approval
  time included; ``muxi.tool.duration_ms`` is the tool's own time).

No message, argument or result text is recorded unless ``capture_content`` is on;
user ids never are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import Meter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from muxi_cli.protocol.events import (
    AgentRouted,
    Event,
    MemoryRecalled,
    ModelCall,
    RunCompleted,
    RunFailed,
    RunStarted,
    TextDelta,
    ToolApproval,
    ToolRequested,
    ToolResult,
    Usage,
)
from muxi_cli.runtime.span_ids import PresetIds
from muxi_cli.tracecontext import INCOMING

#: ``ToolRequested.server`` of tools that are not MCP servers' (tools/host.py,
#: protocol/records.py KIND_SOURCES, core/memory_tool.py).
LOCAL_SERVERS = frozenset({"builtin", "python", "agent", "memory", "unknown", ""})

# Bucket boundaries the conventions recommend for the two histograms.
TOKEN_BUCKETS = [4.0**i for i in range(14)]
SECOND_BUCKETS = [0.01 * 2**i for i in range(14)]


def ns(ts: str) -> int:
    """An event's ISO timestamp in nanoseconds since the epoch."""
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass
class _Tool:
    span: Span
    server: str
    tool: str
    decision: str = ""


@dataclass
class _Run:
    root: Span
    parent_run_id: str | None
    #: When the run was last ready to call the model (ns).
    cursor: int
    #: A model call is under way since ``cursor`` (routed or a tool answered, and
    #: its ``model.call`` not seen yet).
    model_due: bool = False
    tools: dict[str, _Tool] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    model: str | None = None
    usage: Usage | None = None


class SpanBuilder:
    """The tap observer: quick, synchronous, and keeps one small record per open run."""

    def __init__(
        self,
        tracer: Tracer,
        meter: Meter,
        *,
        capture_content: bool = False,
        ids: PresetIds | None = None,
    ) -> None:
        self.tracer = tracer
        self.capture = capture_content
        self.ids = ids or PresetIds()
        self._runs: dict[str, _Run] = {}
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Input and output tokens of a model call",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of a model call",
            explicit_bucket_boundaries_advisory=SECOND_BUCKETS,
        )
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from a model call's start to its first text chunk",
            explicit_bucket_boundaries_advisory=SECOND_BUCKETS,
        )

    def traceparent(self, run_id: str, call_id: str) -> str | None:
        """The ``traceparent`` of tool call ``call_id``'s span, for its MCP request.

        The span may not be started yet (its event is still on the way): then
        its id is chosen now and the span gets it when it starts."""
        run = self._runs.get(run_id)
        if run is None:
            return None
        root = run.root.get_span_context()
        tool = run.tools.get(call_id)
        if tool is not None:
            span_id = tool.span.get_span_context().span_id
        else:
            span_id = self.ids.promise(run_id, call_id)
        return f"00-{root.trace_id:032x}-{span_id:016x}-{int(root.trace_flags):02x}"

    # ------------------------------------------------------------------ events

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._started(event)
            return
        run = self._runs.get(event.run_id)
        if run is None:  # a run that started before telemetry did
            return
        if isinstance(event, TextDelta):  # the most frequent event: no clock needed
            if self.capture:
                run.output.append(event.text)
            return
        at = ns(event.ts)
        if isinstance(event, AgentRouted):
            self._routed(run, event, at)
        elif isinstance(event, MemoryRecalled):
            self._recalled(run, event, at)
        elif isinstance(event, ModelCall):
            self._model_call(run, event, at)
        elif isinstance(event, ToolRequested):
            self._tool_requested(run, event, at)
        elif isinstance(event, ToolApproval):
            tool = run.tools.get(event.call_id)
            if tool is not None and event.decision != "pending":
                tool.decision = event.decision
                tool.span.set_attribute("muxi.tool.approval", event.decision)
                tool.span.set_attribute("muxi.tool.approval.by", event.by)
        elif isinstance(event, ToolResult):
            self._tool_result(run, event, at)
        elif isinstance(event, Usage):
            # The model comes from ``model.call`` only: a routed run's first usage
            # is the router's, whose model is not the one the agent calls.
            run.usage = event
        elif isinstance(event, (RunCompleted, RunFailed)):
            self._finish(event.run_id, event, at)

    def _started(self, event: RunStarted) -> None:
        at = ns(event.ts)
        parent: Span | None = None
        outer = self._runs.get(event.parent_run_id or "")
        if outer is not None:
            parent = outer.root
            for tool in outer.tools.values():  # the delegation call that started it
                if tool.server == "agent" and tool.tool == event.agent:
                    parent = tool.span
        context = trace.set_span_in_context(parent) if parent is not None else None
        if outer is None and not event.nested:
            incoming = INCOMING.get()  # the caller's trace, for a turn a request started
            if incoming:
                context = TraceContextTextMapPropagator().extract(incoming)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": event.agent,
            "gen_ai.conversation.id": event.session_id,
            "muxi.run.id": event.run_id,
        }
        if event.parent_run_id:
            attributes["muxi.run.parent_id"] = event.parent_run_id
            attributes["muxi.run.depth"] = event.depth
        root = self.tracer.start_span(
            f"invoke_agent {event.agent}",
            context=context,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=at,
        )
        self._runs[event.run_id] = _Run(root, event.parent_run_id, cursor=at)

    def _routed(self, run: _Run, event: AgentRouted, at: int) -> None:
        run.root.update_name(f"invoke_agent {event.agent}")
        run.root.set_attribute("gen_ai.agent.name", event.agent)
        if not event.nested:  # a delegate is not routed: its caller named it
            attributes: dict[str, Any] = {
                "muxi.route.agent": event.agent,
                "muxi.route.method": event.method,
                "muxi.route.cached": event.cached,
            }
            if event.router_model:
                attributes["gen_ai.request.model"] = event.router_model
            if event.failure:
                attributes["muxi.route.failure"] = event.failure
            if self.capture and event.reason:
                attributes["muxi.route.reason"] = event.reason
            self._child(run, "muxi.route", run.cursor, at, attributes)
        run.cursor = at
        run.model_due = True

    def _recalled(self, run: _Run, event: MemoryRecalled, at: int) -> None:
        attributes: dict[str, Any] = {"muxi.memory.items": len(event.items)}
        scores = [float(i["score"]) for i in event.items if isinstance(i.get("score"), int | float)]
        if scores:
            attributes["muxi.memory.scores"] = scores
        if self.capture:
            attributes["muxi.memory.texts"] = [str(i.get("text", "")) for i in event.items]
        self._child(run, "muxi.memory.recall", run.cursor, at, attributes)
        run.cursor = at

    def _tool_requested(self, run: _Run, event: ToolRequested, at: int) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.tool,
            "gen_ai.tool.call.id": event.call_id,
            "muxi.tool.server": event.server,
        }
        if event.server in LOCAL_SERVERS:
            attributes["gen_ai.tool.type"] = "function"
        else:  # a tool of an MCP server: the MCP client conventions' names too
            attributes["gen_ai.tool.type"] = "extension"
            attributes["mcp.method.name"] = "tools/call"
            attributes["muxi.mcp.server"] = event.server
        if self.capture:
            attributes["gen_ai.tool.call.arguments"] = json.dumps(
                event.arguments, ensure_ascii=False, default=str
            )
        self.ids.starting(event.run_id, event.call_id)
        span = self.tracer.start_span(
            f"execute_tool {event.tool}",
            context=trace.set_span_in_context(run.root),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=at,
        )
        run.tools[event.call_id] = _Tool(span, event.server, event.tool)

    def _tool_result(self, run: _Run, event: ToolResult, at: int) -> None:
        tool = run.tools.pop(event.call_id, None)
        if tool is None:
            return
        if event.duration_ms is not None:
            tool.span.set_attribute("muxi.tool.duration_ms", event.duration_ms)
        if self.capture:
            tool.span.set_attribute("gen_ai.tool.call.result", event.content)
        if not event.ok:
            kind = "tool_denied" if tool.decision == "denied" else "tool_error"
            tool.span.set_attribute("error.type", kind)
            tool.span.set_status(Status(StatusCode.ERROR))
        tool.span.end(end_time=at)
        run.cursor = max(run.cursor, at)
        run.model_due = True

    # -------------------------------------------------------------- model calls

    def _model_call(self, run: _Run, event: ModelCall, at: int) -> None:
        start = at - event.duration_ms * 1_000_000
        run.model = event.model
        run.model_due = False
        run.cursor = at
        metric_attrs = self._chat_attributes(event.model)
        attributes = dict(metric_attrs)  # the span's own: tokens and finish on top
        if not event.unknown:
            attributes["gen_ai.usage.input_tokens"] = event.input_tokens
            attributes["gen_ai.usage.output_tokens"] = event.output_tokens
        attributes["gen_ai.response.finish_reasons"] = [event.finish]
        self._chat_span(run, event.model, start, at, attributes, None)
        self.duration.record(event.duration_ms / 1000, metric_attrs)
        if event.first_chunk_ms is not None:
            self.first_chunk.record(event.first_chunk_ms / 1000, metric_attrs)
        if not event.unknown:  # a lower bound is not reported
            for kind, count in (("input", event.input_tokens), ("output", event.output_tokens)):
                self.token_usage.record(count, {**metric_attrs, "gen_ai.token.type": kind})

    def _failed_call(self, run: _Run, failure: str, at: int) -> None:
        """The call a run was waiting for when it failed (it sent no ``model.call``)."""
        model = run.model or ""
        attributes = self._chat_attributes(model)
        self._chat_span(run, model, run.cursor, at, attributes, failure)
        self.duration.record(max(at - run.cursor, 0) / 1e9, {**attributes, "error.type": failure})

    @staticmethod
    def _chat_attributes(model_ref: str) -> dict[str, Any]:
        provider, _, model = model_ref.partition("/")
        if not model:
            provider, model = "", provider
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat"}
        if provider:
            attributes["gen_ai.provider.name"] = provider
        if model:
            attributes["gen_ai.request.model"] = model
        return attributes

    def _chat_span(
        self,
        run: _Run,
        model_ref: str,
        start: int,
        end: int,
        attributes: dict[str, Any],
        failure: str | None,
    ) -> None:
        model = model_ref.partition("/")[2] or model_ref
        span = self.tracer.start_span(
            f"chat {model}".rstrip(),
            context=trace.set_span_in_context(run.root),
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start,
        )
        if failure is not None:
            span.set_attribute("error.type", failure)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    # ------------------------------------------------------------------- the end

    def _finish(self, run_id: str, event: RunCompleted | RunFailed | None, at: int) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        self.ids.forget(run_id)
        for child_id in [k for k, r in self._runs.items() if r.parent_run_id == run_id]:
            self._finish(child_id, None, at)  # a delegate cut off with its parent
        failure = event.code if isinstance(event, RunFailed) else None
        if event is None:
            failure = "cancelled"
        if failure is not None and run.model_due and not run.tools:  # the call it failed in
            self._failed_call(run, failure, at)
        for tool in run.tools.values():
            tool.span.set_attribute("error.type", failure or "unfinished")
            tool.span.set_status(Status(StatusCode.ERROR))
            tool.span.end(end_time=at)
        root = run.root
        if run.model:
            provider, _, model = run.model.partition("/")
            root.set_attribute("gen_ai.request.model", model or provider)
            if model:
                root.set_attribute("gen_ai.provider.name", provider)
        if run.usage is not None:
            root.set_attribute("gen_ai.usage.input_tokens", run.usage.input_tokens)
            root.set_attribute("gen_ai.usage.output_tokens", run.usage.output_tokens)
            if run.usage.cost_usd is not None:
                root.set_attribute("muxi.cost_usd", run.usage.cost_usd)
        if self.capture and isinstance(event, RunCompleted):
            text = event.text or "".join(run.output)
            message = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
            root.set_attribute("gen_ai.output.messages", json.dumps([message], ensure_ascii=False))
        if failure is not None:
            root.set_attribute("error.type", failure)
            root.set_status(Status(StatusCode.ERROR))
        root.end(end_time=at)

    def _child(
        self, run: _Run, name: str, start: int, end: int, attributes: dict[str, Any]
    ) -> None:
        span = self.tracer.start_span(
            name,
            context=trace.set_span_in_context(run.root),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=start,
        )
        span.end(end_time=end)
