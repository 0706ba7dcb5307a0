"""The chat app's form for an MCP server's question, over the real LocalRuntime
and a real MCP server that elicits (tests/mcp_servers/elicit_server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.model import ReplyRecord
from muxi_cli.tui.screens.elicit import ElicitationDialog
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.tui.conftest import SIZE, idle, ready, send, until

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "elicit_server.py"


@pytest.fixture
def app(fake_llm: FakeLLM, tmp_path: Path) -> MuxiApp:
    extra = (
        f"mcp_servers:\n  booker:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        "    approval: allow\nagents:\n  - name: a\n    mcp_servers: [booker]\n"
    )
    path = fake_llm.write_formation(tmp_path, extra=extra)

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    return MuxiApp(factory, cursor_blink=False, config_path=str(path))


async def _asked(pilot, app: MuxiApp, fake_llm: FakeLLM) -> ElicitationDialog:  # type: ignore[no-untyped-def]
    await ready(pilot)
    assert app.runtime is not None
    await app.runtime.tool_host.wait_ready(timeout=30)  # type: ignore[attr-defined]
    fake_llm.script(ToolCalls([("booker__book_table", {"day": "Mon"})]), Text("Done."))
    await send(pilot, "book")
    await until(pilot, lambda: isinstance(app.screen, ElicitationDialog), "the form", 30)
    dialog = app.screen
    assert isinstance(dialog, ElicitationDialog)
    return dialog


async def test_the_form_is_built_from_the_schema_and_its_answer_reaches_the_server(
    app: MuxiApp, fake_llm: FakeLLM
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _asked(pilot, app, fake_llm)
        assert [f.name for f in dialog.fields] == ["name", "party"]
        name, party = dialog.query(Input)
        name.value = "Ann"
        dialog.query_one("#accept", Button).press()
        await pilot.pause()
        assert app.screen is dialog  # party is required: the form stays, saying so
        assert "party" in str(dialog.query_one("#elicit-error").render())
        party.value = "3"
        dialog.query_one("#accept", Button).press()
        await idle(pilot)
        reply = [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)][-1]
        assert reply.state == "done", reply.error
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "booked Mon for Ann, 3 people"


async def test_escape_cancels_and_the_server_hears_it(app: MuxiApp, fake_llm: FakeLLM) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await _asked(pilot, app, fake_llm)
        await pilot.press("escape")
        await idle(pilot)
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "booking cancelled"


async def test_a_sampling_request_is_an_entry_approved_like_a_call(
    app: MuxiApp, fake_llm: FakeLLM
) -> None:
    from muxi_cli.tui.model import ToolCall
    from muxi_cli.tui.widgets.approval import ApprovalPrompt

    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.runtime is not None
        await app.runtime.tool_host.wait_ready(timeout=30)  # type: ignore[attr-defined]
        fake_llm.script(
            ToolCalls([("booker__summarize", {"text": "a long text"})]),
            Text("short"),
            Text("Summed up."),
        )
        await send(pilot, "sum up")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the prompt", 30)
        await pilot.press("y")
        await idle(pilot)
        reply = [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)][-1]
        calls = [p for p in reply.parts if isinstance(p, ToolCall)]
        sampled = next(c for c in calls if c.tool == "sampling")
        assert sampled.server == "booker" and sampled.status == "ok"
        assert sampled.decided_by == "allowed by user"
        tool = next(c for c in calls if c.tool == "summarize")
        assert "short" in (tool.result or "")
        assert reply.text == "Summed up."
