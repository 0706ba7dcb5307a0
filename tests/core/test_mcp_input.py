"""Elicitation and sampling from a real MCP server reach the turn that called it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.protocol import events as ev
from muxi_cli.runtime.local import LocalRuntime
from tests.core.conftest import request
from tests.fakellm import FakeLLM, Text, ToolCalls

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "elicit_server.py"


def formation(fake_llm: FakeLLM, tmp_path: Path, sampling: str = "ask") -> Path:
    extra = (
        f"mcp_servers:\n  booker:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        f"    approval: allow\n    sampling: {sampling}\n"
        "agents:\n  - name: a\n    mcp_servers: [booker]\n"
    )
    return fake_llm.write_formation(tmp_path, extra=extra)


async def run_turn(runtime: LocalRuntime, approval: str, on_event) -> list[ev.Event]:
    await runtime.tool_host.wait_ready(timeout=30)  # an interactive turn does not wait
    turn = await runtime.chat(request("book", approval=approval))
    seen: list[ev.Event] = []
    async with turn:
        async for event in turn.events():
            seen.append(event)
            await on_event(turn, event)
    return seen


def tool_text(fake_llm: FakeLLM) -> str:
    return fake_llm.requests[-1]["messages"][-1]["content"]


async def test_an_interactive_turn_answers_the_form_and_the_server_gets_it(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = await LocalRuntime.open(config_path=formation(fake_llm, tmp_path))
    fake_llm.script(ToolCalls([("booker__book_table", {"day": "Mon"})]), Text("Done."))

    async def answer(turn, event) -> None:
        if isinstance(event, ev.ElicitationRequested):
            assert event.pending and event.server == "booker" and event.mode == "form"
            assert event.message == "Who is the table on Mon for?"
            assert event.requested_schema["required"] == ["name", "party"]
            with pytest.raises(UsageError, match="party"):
                await turn.answer_elicitation(event.elicitation_id, "accept", {"name": "Ann"})
            with pytest.raises(UsageError, match="type integer"):
                await turn.answer_elicitation(
                    event.elicitation_id, "accept", {"name": "Ann", "party": "two"}
                )
            await turn.answer_elicitation(
                event.elicitation_id, "accept", {"name": "Ann", "party": 2}
            )
            with pytest.raises(NotFoundError):  # answered once
                await turn.answer_elicitation(event.elicitation_id, "decline")

    try:
        seen = await run_turn(runtime, "interactive", answer)
    finally:
        await runtime.aclose()
    requested = next(e for e in seen if isinstance(e, ev.ElicitationRequested))
    resolved = next(e for e in seen if isinstance(e, ev.ElicitationResolved))
    assert requested.call_id == next(e for e in seen if isinstance(e, ev.ToolRequested)).call_id
    assert (resolved.elicitation_id, resolved.action, resolved.by) == (
        requested.elicitation_id,
        "accept",
        "user",
    )
    assert tool_text(fake_llm) == "booked Mon for Ann, 2 people"
    assert seen[-1].type == ev.RUN_COMPLETED


@pytest.mark.parametrize("approval", ["deny", "yes"])
async def test_a_headless_turn_declines_even_with_yes(
    fake_llm: FakeLLM, tmp_path: Path, approval: str
) -> None:
    runtime = await LocalRuntime.open(config_path=formation(fake_llm, tmp_path))
    fake_llm.script(ToolCalls([("booker__book_table", {"day": "Tue"})]), Text("Done."))

    async def nothing(turn, event) -> None:
        return None

    try:
        seen = await run_turn(runtime, approval, nothing)
    finally:
        await runtime.aclose()
    requested = next(e for e in seen if isinstance(e, ev.ElicitationRequested))
    resolved = next(e for e in seen if isinstance(e, ev.ElicitationResolved))
    assert not requested.pending
    assert (resolved.action, resolved.by) == ("decline", "policy")
    assert tool_text(fake_llm) == "booking declined"


async def test_sampling_is_approved_like_a_tool_and_its_tokens_count(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = await LocalRuntime.open(config_path=formation(fake_llm, tmp_path))
    fake_llm.script(
        ToolCalls([("booker__summarize", {"text": "a long text"})]),
        Text("short version"),
        Text("Here it is."),
    )

    async def approve(turn, event) -> None:
        if isinstance(event, ev.ToolApproval) and event.decision == "pending":
            await turn.approve(event.call_id, "allow")

    try:
        seen = await run_turn(runtime, "interactive", approve)
    finally:
        await runtime.aclose()
    asked = next(e for e in seen if isinstance(e, ev.SamplingRequested))
    assert asked.server == "booker" and asked.max_tokens == 50
    assert asked.messages == ({"role": "user", "text": "Summarize: a long text"},)
    decided = [e for e in seen if isinstance(e, ev.ToolApproval) and e.call_id == asked.sampling_id]
    assert [d.decision for d in decided] == ["pending", "allowed"]
    sampled = fake_llm.requests[1]
    assert sampled["messages"][-1]["content"] == "Summarize: a long text"
    assert sampled["max_tokens"] == 50
    usages = [e for e in seen if isinstance(e, ev.Usage)]
    assert len(usages) == 2  # the sampling call's and the agent's own
    assert tool_text(fake_llm).startswith("summary (") and "short version" in tool_text(fake_llm)


async def test_sampling_is_denied_in_a_run_without_yes(fake_llm: FakeLLM, tmp_path: Path) -> None:
    runtime = await LocalRuntime.open(config_path=formation(fake_llm, tmp_path))
    fake_llm.script(ToolCalls([("booker__summarize", {"text": "x"})]), Text("No."))

    async def nothing(turn, event) -> None:
        return None

    try:
        seen = await run_turn(runtime, "deny", nothing)
    finally:
        await runtime.aclose()
    asked = next(e for e in seen if isinstance(e, ev.SamplingRequested))
    decided = [e for e in seen if isinstance(e, ev.ToolApproval) and e.call_id == asked.sampling_id]
    assert [(d.decision, d.by) for d in decided] == [("denied", "policy")]
    assert len(fake_llm.requests) == 2  # no sampling call reached the model
    result = next(e for e in seen if isinstance(e, ev.ToolResult))
    assert "denied" in result.content


async def test_a_server_cannot_ask_the_model_for_unbounded_tokens(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    from muxi_cli.core.turn_input import SAMPLING_MAX_TOKENS

    runtime = await LocalRuntime.open(config_path=formation(fake_llm, tmp_path, "allow"))
    fake_llm.script(
        ToolCalls([("booker__summarize", {"text": "x", "length": 1_000_000_000})]),
        Text("short"),
        Text("Here."),
    )

    async def nothing(turn, event) -> None:
        return None

    try:
        seen = await run_turn(runtime, "deny", nothing)
    finally:
        await runtime.aclose()
    asked = next(e for e in seen if isinstance(e, ev.SamplingRequested))
    assert asked.max_tokens == SAMPLING_MAX_TOKENS
    assert fake_llm.requests[1]["max_tokens"] == SAMPLING_MAX_TOKENS
    assert "short" in tool_text(fake_llm)
