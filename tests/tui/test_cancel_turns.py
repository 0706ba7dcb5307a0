"""Esc in the chat app stops a turn for good (issue 12, findings 1 and 8):
over the real LocalRuntime and the fake LLM, a cancelled tool call shows
"cancelled", the session stores the turn as cancelled, and the next message
reaches the model as its own message after a note, without the tool running
again."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.model import ReplyRecord, ToolCall
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.tui.conftest import SIZE, idle, ready, send, until

TOOL = '''
import time
from pathlib import Path

def slow_lookup(topic: str) -> str:
    """Look a topic up (slowly)."""
    with Path({marker!r}).open("a") as fh:
        fh.write(topic + "\\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Path({release!r}).exists():
        time.sleep(0.05)
    return "the slow result"
'''

EXTRA = """
agents:
  - name: assistant
    memory: {enabled: false}
    tools:
      - {python: "slowtool_tui:slow_lookup", approval: allow}
      - {builtin: calculator, approval: ask}
"""


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    marker, release = tmp_path / "started.txt", tmp_path / "release"
    (tmp_path / "slowtool_tui.py").write_text(TOOL.format(marker=str(marker), release=str(release)))
    # Each test imports its own copy (the module writes this test's marker).
    sys.modules.pop("slowtool_tui", None)
    yield marker, release
    release.touch()  # an abandoned tool thread ends now, not 30 s later
    sys.modules.pop("slowtool_tui", None)


@pytest.fixture
def app(fake_llm: FakeLLM, tmp_path: Path, paths: tuple[Path, Path]) -> MuxiApp:
    path = tmp_path / "muxi.yaml"
    path.write_text(fake_llm.formation_yaml(extra=EXTRA), encoding="utf-8")

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    return MuxiApp(factory, cursor_blink=False, config_path=str(path))


def last_reply(app: MuxiApp) -> ReplyRecord:
    return [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)][-1]


def call_of(reply: ReplyRecord) -> ToolCall:
    return next(p for p in reply.parts if isinstance(p, ToolCall))


def chat_roles(req: dict[str, Any]) -> list[str]:
    return [m["role"] for m in req["messages"] if m["role"] != "system"]


async def test_esc_during_a_tool_shows_cancelled_and_is_not_asked_again(
    app: MuxiApp, fake_llm: FakeLLM, paths: tuple[Path, Path]
) -> None:
    marker, _release = paths
    fake_llm.script(ToolCalls([("slow_lookup", {"topic": "tides"})]), Text("Paris."))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "CALL_TOOL look up tides")
        await until(pilot, marker.exists, "the tool to start")
        await pilot.press("escape")
        await idle(pilot)
        reply = last_reply(app)
        assert reply.state == "cancelled"
        call = call_of(reply)
        assert call.status == "cancelled"
        entry = app.chat.query("ToolCallEntry").last()
        assert "cancelled" in str(entry.title) and "running" not in str(entry.title)

        session_id = app.session_id
        assert session_id and app.runtime is not None
        stored = await app.runtime.messages(session_id)
        assert [m.status for m in stored if m.role == "assistant"][-1] == "cancelled"

        await send(pilot, "what is the capital of France")
        await idle(pilot)
        assert last_reply(app).text == "Paris."
        sent = fake_llm.requests[-1]
        assert chat_roles(sent) == ["user", "assistant", "tool", "assistant", "user"]
        assert sent["messages"][-1]["content"] == "what is the capital of France"
        assert "cancelled this request" in sent["messages"][-2]["content"]
        assert marker.read_text().splitlines() == ["tides"]  # it never ran again


async def test_esc_at_the_approval_prompt_closes_the_request(
    app: MuxiApp, fake_llm: FakeLLM
) -> None:
    fake_llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("Hello."))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "6 times 7?")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        await pilot.press("escape")
        await idle(pilot)
        assert last_reply(app).state == "cancelled"

        await send(pilot, "hello again")
        await idle(pilot)
        assert last_reply(app).text == "Hello."
        sent = fake_llm.requests[-1]
        assert chat_roles(sent) == ["user", "assistant", "tool", "assistant", "user"]
        tool_result = next(m for m in sent["messages"] if m["role"] == "tool")
        assert "Cancelled by the user" in tool_result["content"]
        # The calculator never ran: its only result is the stored cancellation.
        assert [m["role"] for m in sent["messages"]].count("tool") == 1
        assert app.runtime is not None
        assert sent["messages"][-1]["content"] == "hello again"
        assert app.session_id and app.runtime is not None
        stored = await app.runtime.messages(app.session_id)
        assert [(m.role, m.status) for m in stored][:4] == [
            ("user", "complete"),
            ("assistant", "complete"),
            ("tool", "complete"),
            ("assistant", "cancelled"),
        ]


DELEGATING = """
agents:
  - name: main
    memory: {enabled: false}
    delegates: [helper]
  - name: helper
    description: looks things up
    memory: {enabled: false}
    tools:
      - {python: "slowtool_tui:slow_lookup", approval: allow}
default_agent: main
"""


async def test_esc_while_a_delegated_agent_runs_a_tool_cancels_the_nested_reply(
    fake_llm: FakeLLM, tmp_path: Path, paths: tuple[Path, Path]
) -> None:
    marker, _release = paths
    path = tmp_path / "muxi.yaml"
    path.write_text(fake_llm.formation_yaml(extra=DELEGATING), encoding="utf-8")

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    app = MuxiApp(factory, cursor_blink=False, config_path=str(path))
    fake_llm.script(
        ToolCalls([("ask_helper", {"question": "tides?"})]),
        ToolCalls([("slow_lookup", {"topic": "tides"})]),
    )
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "@main look up tides via the helper")
        await until(pilot, marker.exists, "the helper's tool to start")
        await pilot.press("escape")
        await idle(pilot)
        reply = last_reply(app)
        assert reply.state == "cancelled"
        assert call_of(reply).status == "cancelled"  # ask_helper
        nested = next(p for p in reply.parts if isinstance(p, ReplyRecord))
        assert nested.state == "cancelled"
        assert call_of(nested).status == "cancelled"  # the helper's own tool
