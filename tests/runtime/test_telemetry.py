"""OpenTelemetry spans and GenAI metrics built from a local turn's events.

A scripted turn with the fake model (routing, an allowed tool, a denied tool,
a delegation) is checked through the SDK's in-memory exporter and reader: the
span tree, the attribute names, no text unless ``capture_content`` is on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from muxi_cli.config.schema import TelemetryConfig
from muxi_cli.errors import MissingPartError
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime import telemetry
from muxi_cli.runtime.local import LocalRuntime
from tests.fakellm import Error, FakeLLM, Text, ToolCalls

SECRET = "zebra-7431"  # in the question, the arguments, the results and the answer

AGENTS = """
agents:
  - name: main
    memory: {long_term: false}
    delegates: [helper]
    tools:
      - {builtin: calculator, approval: allow}
      - {builtin: datetime, approval: ask}
  - name: helper
    memory: {long_term: false}
"""


async def scripted_turn(
    fake: FakeLLM, tmp_path: Path, *, capture: bool
) -> tuple[list[ReadableSpan], Any]:
    fake.script(
        ToolCalls([("calculator", {"expression": "6*7"}), ("datetime", {"note": SECRET})]),
        ToolCalls([("ask_helper", {"question": f"what is {SECRET}?"})]),
        Text(f"helper says {SECRET}", usage=(7, 3)),
        Text(f"the answer is {SECRET}", usage=(30, 12)),
    )
    path = fake.write_formation(tmp_path, extra=AGENTS)
    runtime = await LocalRuntime.open(path, sessions_path=tmp_path / "s.db")
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    settings = telemetry.Settings(None, "muxi-test", capture_content=capture)
    runtime.telemetry = telemetry.start(
        runtime.tap, settings, span_exporter=exporter, metric_reader=reader
    )
    try:
        turn = await runtime.chat(ChatRequest(message=f"tell me {SECRET}", agent="main"))
        events = [event async for event in turn.events()]
        assert events[-1].type == "run.completed", events[-1]
        metrics = reader.get_metrics_data()
    finally:
        await runtime.aclose()
    return list(exporter.get_finished_spans()), metrics


async def traced_runtime(path: Path, tmp_path: Path) -> tuple[LocalRuntime, InMemorySpanExporter]:
    """A local runtime whose spans go to an in-memory exporter."""
    runtime = await LocalRuntime.open(path, sessions_path=tmp_path / "s.db")
    exporter = InMemorySpanExporter()
    runtime.telemetry = telemetry.start(
        runtime.tap,
        telemetry.Settings(None),
        span_exporter=exporter,
        metric_reader=InMemoryMetricReader(),
    )
    return runtime, exporter


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def metric_points(metrics: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for resource in metrics.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


async def test_a_turn_becomes_a_span_tree(fake_llm: FakeLLM, tmp_path: Path) -> None:
    spans, metrics = await scripted_turn(fake_llm, tmp_path, capture=False)
    root = by_name(spans, "invoke_agent main")
    assert root.parent is None
    root_id = root.context.span_id
    attrs = root.attributes or {}
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.agent.name"] == "main"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "fake-model"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (
        20 + 20 + 30,
        10 + 10 + 12,
    )
    route = by_name(spans, "muxi.route")
    assert parent_of(route) == root_id
    assert (route.attributes or {})["muxi.route.method"] == "explicit"

    # Three model calls of main: tools, delegation, the answer.
    chats = [s for s in spans if s.name == "chat fake-model" and parent_of(s) == root_id]
    assert len(chats) == 3
    assert all((c.attributes or {})["gen_ai.operation.name"] == "chat" for c in chats)
    assert all(c.kind.name == "CLIENT" for c in chats)
    # Each call carries its own tokens and the reason it ended (its model.call event).
    per_call = [
        (
            (c.attributes or {})["gen_ai.usage.input_tokens"],
            (c.attributes or {})["gen_ai.usage.output_tokens"],
        )
        for c in sorted(chats, key=lambda c: c.start_time or 0)
    ]
    assert per_call == [(20, 10), (20, 10), (30, 12)]
    finishes = [
        tuple((c.attributes or {})["gen_ai.response.finish_reasons"])
        for c in sorted(chats, key=lambda c: c.start_time or 0)
    ]
    assert finishes == [("tool_calls",), ("tool_calls",), ("stop",)]
    for chat in chats:  # a call lies inside its run, and calls do not overlap tools
        assert (root.start_time or 0) <= (chat.start_time or 0) <= (chat.end_time or 0)
        assert (chat.end_time or 0) <= (root.end_time or 0)

    allowed = by_name(spans, "execute_tool calculator")
    denied = by_name(spans, "execute_tool datetime")
    for span in (allowed, denied):
        assert parent_of(span) == root_id
        assert (span.attributes or {})["gen_ai.operation.name"] == "execute_tool"
        assert (span.attributes or {})["gen_ai.tool.call.id"]
        assert (span.attributes or {})["gen_ai.tool.type"] == "function"
    assert (allowed.attributes or {})["muxi.tool.approval"] == "allowed"
    assert allowed.status.is_ok
    assert (denied.attributes or {})["muxi.tool.approval"] == "denied"
    assert (denied.attributes or {})["error.type"] == "tool_denied"

    # The delegate's run is a child of the tool call that delegated to it.
    delegation = by_name(spans, "execute_tool helper")
    helper = by_name(spans, "invoke_agent helper")
    assert parent_of(helper) == delegation.context.span_id
    helper_chat = [s for s in spans if parent_of(s) == helper.context.span_id]
    assert [s.name for s in helper_chat] == ["chat fake-model"]
    assert (helper_chat[0].attributes or {})["gen_ai.usage.output_tokens"] == 3
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    for span in spans:  # times come from the events, in order
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.end_time

    # Nothing the user or the model wrote, and no user id.
    dumped = json.dumps([dict(s.attributes or {}) for s in spans], default=str)
    assert SECRET not in dumped
    assert "user" not in dumped

    points = metric_points(metrics)
    tokens = points["gen_ai.client.token.usage"]
    # One record per model call and token type: main's three and the helper's one.
    kinds = {(p.attributes["gen_ai.token.type"], p.sum, p.count) for p in tokens}
    assert kinds == {("input", 70 + 7, 4), ("output", 32 + 3, 4)}
    assert all(p.attributes["gen_ai.operation.name"] == "chat" for p in tokens)
    assert sum(p.count for p in points["gen_ai.client.operation.duration"]) == 4
    assert points["gen_ai.client.operation.time_to_first_chunk"]


async def test_capture_content_puts_text_in_spans(fake_llm: FakeLLM, tmp_path: Path) -> None:
    spans, _ = await scripted_turn(fake_llm, tmp_path, capture=True)
    allowed = by_name(spans, "execute_tool calculator")
    assert json.loads(str((allowed.attributes or {})["gen_ai.tool.call.arguments"])) == {
        "expression": "6*7"
    }
    assert "42" in str((allowed.attributes or {})["gen_ai.tool.call.result"])
    root = by_name(spans, "invoke_agent main")
    output = json.loads(str((root.attributes or {})["gen_ai.output.messages"]))
    assert output[0]["parts"][0]["content"] == f"the answer is {SECRET}"


async def test_a_failed_turn_marks_its_span_and_model_call(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(Error(400))  # context too long: not retried
    path = fake_llm.write_formation(tmp_path)
    runtime, exporter = await traced_runtime(path, tmp_path)
    try:
        turn = await runtime.chat(ChatRequest(message="hi"))
        events = [event async for event in turn.events()]
    finally:
        await runtime.aclose()
    assert events[-1].type == "run.failed"
    spans = list(exporter.get_finished_spans())
    root = next(s for s in spans if s.name.startswith("invoke_agent"))
    chat = next(s for s in spans if s.name.startswith("chat"))
    code = events[-1].to_dict()["error"]["code"]
    for span in (root, chat):
        assert not span.status.is_ok
        assert (span.attributes or {})["error.type"] == code


def test_off_unless_an_endpoint_is_set() -> None:
    assert telemetry.settings_for(TelemetryConfig(), env={}) is None
    on = telemetry.settings_for(
        TelemetryConfig(), env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"}
    )
    assert on is not None and on.traces_url == "http://127.0.0.1:4318/v1/traces"
    assert on.service_name == "muxi" and not on.capture_content
    config = TelemetryConfig(otlp_endpoint="http://127.0.0.1:9", service_name="svc")
    assert telemetry.settings_for(config, env={"OTEL_SDK_DISABLED": "true"}) is None
    assert telemetry.settings_for(config, env={}) == telemetry.Settings(
        "http://127.0.0.1:9", "svc", False
    )


def test_configured_but_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from muxi_cli import parts
    from muxi_cli.config.schema import Formation

    real = parts._found
    monkeypatch.setattr(parts, "_found", lambda m: not m.startswith("opentelemetry") and real(m))
    formation = Formation(telemetry=TelemetryConfig(otlp_endpoint="http://127.0.0.1:9"))
    with pytest.raises(MissingPartError) as caught:
        telemetry.required(formation)
    assert "pip install 'muxi-cli[telemetry]'" in str(caught.value.hint)
    # Only the environment asking (for other programs, perhaps) does not stop muxi.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    assert telemetry.required(Formation()) is None


def test_nothing_of_opentelemetry_is_imported_while_off() -> None:
    code = (
        "import sys, muxi_cli.runtime.local, muxi_cli.runtime.telemetry\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


TRACE_ECHO = Path(__file__).resolve().parent.parent / "mcp_servers" / "trace_echo.py"


async def test_an_mcp_call_carries_its_span_as_traceparent(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """The MCP request's ``_meta.traceparent`` names the execute_tool span (SEP-414),
    and a caller's trace context (what ``muxi serve`` takes from a request) is the
    turn's parent."""
    from muxi_cli import tracecontext

    extra = (
        f"mcp_servers:\n  trace:\n    command: {sys.executable}\n"
        f"    args: [{str(TRACE_ECHO)!r}]\n    approval: allow\n"
        "agents:\n  - name: a\n    memory: {long_term: false}\n    mcp_servers: [trace]\n"
    )
    fake_llm.script(ToolCalls([("trace__trace_meta", {})]), Text("traced"))
    path = fake_llm.write_formation(tmp_path, extra=extra)
    runtime, exporter = await traced_runtime(path, tmp_path)
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = tracecontext.INCOMING.set({"traceparent": caller, "tracestate": "v=1"})
    try:
        turn = await runtime.chat(ChatRequest(message="trace it"))
        tracecontext.INCOMING.reset(token)
        events = [event async for event in turn.events()]
    finally:
        await runtime.aclose()
    assert events[-1].type == "run.completed", events[-1]
    result = next(e for e in events if e.type == "tool.result")
    assert result.ok, result.content
    sent = json.loads(result.content)["traceparent"]
    spans = list(exporter.get_finished_spans())
    tool = by_name(spans, "execute_tool trace_meta")
    root = by_name(spans, "invoke_agent a")
    assert sent == f"00-{tool.context.trace_id:032x}-{tool.context.span_id:016x}-01"
    assert parent_of(tool) == root.context.span_id
    assert f"{root.context.trace_id:032x}" == caller.split("-")[1]
    assert root.parent is not None and f"{root.parent.span_id:016x}" == caller.split("-")[2]


def test_incoming_trace_headers_are_validated() -> None:
    from muxi_cli.tracecontext import outgoing, parse_headers

    good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert parse_headers(good.upper(), "a=1") == {"traceparent": good, "tracestate": "a=1"}
    for bad in (
        "",
        "garbage",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero span id
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n00",
    ):
        assert parse_headers(bad, None) is None, bad
    assert parse_headers(good, "x" * 600) == {"traceparent": good}  # an oversized state dropped
    assert outgoing() == {}  # no tool call running: nothing leaves


async def test_a_failed_call_after_routing_names_the_agents_model_not_the_routers(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    # The router's usage comes first in the run's events: it is not the model
    # whose call failed, nor the model the agent asked.
    extra = (
        "router:\n  model: openai/router\n"
        "agents:\n"
        "  - {name: a, description: Does a., model: openai/agent-model,"
        " memory: {long_term: false}}\n"
        "  - {name: b, description: Does b., memory: {long_term: false}}\n"
    )
    fake_llm.script(
        ToolCalls([("choose_agent", {"agent": "a", "reason": "a"})], usage=(40, 8)), Error(400)
    )
    path = fake_llm.write_formation(tmp_path, extra=extra)
    runtime = await LocalRuntime.open(path, sessions_path=tmp_path / "s.db")
    exporter = InMemorySpanExporter()
    runtime.telemetry = telemetry.start(
        runtime.tap,
        telemetry.Settings(None),
        span_exporter=exporter,
        metric_reader=InMemoryMetricReader(),
    )
    try:
        turn = await runtime.chat(ChatRequest(message="hi"))
        events = [event async for event in turn.events()]
    finally:
        await runtime.aclose()
    assert events[-1].type == "run.failed", events[-1]
    spans = list(exporter.get_finished_spans())
    chat = [s for s in spans if s.name.startswith("chat")]
    assert [s.name for s in chat] == ["chat"], [s.name for s in spans]  # model unknown
    assert "router" not in str(dict(chat[0].attributes or {}))
    root = by_name(spans, "invoke_agent a")
    assert (root.attributes or {}).get("gen_ai.request.model") != "router"
