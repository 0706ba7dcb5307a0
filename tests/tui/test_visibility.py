"""The chat app says why: unknown @names and failed routes."""

from __future__ import annotations

import logging

import pytest
from rich.text import Text as RichText
from textual.widgets import DataTable, Static

from muxi_cli.protocol.records import ServerInfo
from muxi_cli.tui import commands
from muxi_cli.tui.model import NoteRecord, ReplyRecord
from muxi_cli.tui.screens.chat import ChatScreen
from muxi_cli.tui.screens.mcp_servers import McpServersScreen
from muxi_cli.tui.widgets.completion import GAP, LABEL_CAP, CompletionMenu
from tests.tui.conftest import SIZE, idle, make_app, ready, screen_text, send, until
from tests.tui.fake_runtime import FakeRuntime, Raw, Text


async def test_unknown_mention_warns_naming_the_nearest_agent_and_sends_nothing(
    fake: FakeRuntime,
) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "@codr fix this loop")
        await pilot.pause()
        assert fake.requests == []
        assert app.chat.prompt.text == "@codr fix this loop"  # kept, to fix the name
        note = app.chat.transcript.records[-1]
        assert isinstance(note, NoteRecord) and note.kind == "warning"
        assert "No agent named @codr" in note.text and "The nearest is @coder." in note.text
        assert "assistant, coder, researcher" in note.text
        # Far from every name: still warned, still names the nearest.
        await send(pilot, "@nobody hi")
        await pilot.pause()
        assert fake.requests == []
        assert "No agent named @nobody" in screen_text(app)
        # A known name is sent at once.
        await send(pilot, "@coder fix this loop")
        await idle(pilot)
        assert [(r.agent, r.message) for r in fake.requests] == [("coder", "fix this loop")]


async def test_failed_route_shows_why_in_the_reply_header(fake: FakeRuntime) -> None:
    reason = (
        "the router (openai/small) answered in prose instead of calling choose_agent: "
        "'the coder'; using the default agent 'assistant'"
    )
    fake.script(
        Raw(
            "agent.routed",
            {
                "agent": "assistant",
                "reason": reason,
                "method": "default",
                "cached": False,
                "router_model": "openai/small",
                "failure": "no_tool_call",
            },
        ),
        Text("hello"),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "hi")
        await idle(pilot)
        reply = next(r for r in app.chat.transcript.records if isinstance(r, ReplyRecord))
        assert reply.route_failure == "no_tool_call"
        shown = " ".join(screen_text(app).split())
        assert "⚠ routing failed: the router (openai/small) answered in prose" in shown


STDERR_ERROR = (
    "exited during startup\n"
    "command: python weather_server.py --units metric\n"
    "stderr (last lines):\n"
    "Traceback (most recent call last):\n"
    "KeyError: [Errno 2] 'WEATHER_TOKEN'"
)


def failing_runtime() -> FakeRuntime:
    return FakeRuntime(
        servers=[
            ServerInfo("demo", "stdio", "ready", tool_count=2, started_ms=120),
            ServerInfo("weather", "stdio", "failed", error=STDERR_ERROR),
        ]
    )


async def test_failed_formation_server_is_announced_once_and_logged(caplog) -> None:
    fake = failing_runtime()
    app = make_app(fake)
    with caplog.at_level(logging.WARNING, logger="muxi_cli.tui.app"):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            toasts = [n for n in app._notifications if "weather" in n.message]
            assert len(toasts) == 1
            assert toasts[0].severity == "error"
            assert "'weather' failed to start: exited during startup" in toasts[0].message
            assert "/mcp retry weather" in toasts[0].message
            await send(pilot, "/mcp")  # listing again announces nothing new
            await until(pilot, lambda: isinstance(app.screen, McpServersScreen), "the table")
            await pilot.press("escape")
            await pilot.pause()
            assert len([n for n in app._notifications if "weather" in n.message]) == 1
    logged = [r.getMessage() for r in caplog.records if "weather" in r.getMessage()]
    assert len(logged) == 1 and "WEATHER_TOKEN" in logged[0] and "--units metric" in logged[0]


async def test_mcp_screen_shows_the_stderr_tail_and_command_and_r_retries() -> None:
    fake = failing_runtime()
    app = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "/mcp")
        await until(pilot, lambda: isinstance(app.screen, McpServersScreen), "the MCP table")
        screen = app.screen
        assert isinstance(screen, McpServersScreen)
        assert screen.query_one(DataTable).cursor_row == 1  # the failed one is highlighted
        detail = str(screen.query_one("#detail", Static).render())
        assert "command: python weather_server.py --units metric" in detail
        assert "KeyError: [Errno 2] 'WEATHER_TOKEN'" in detail
        row = [str(c) for c in screen.query_one(DataTable).get_row_at(1)]
        assert "exited during startup" in row
        # The ready server has nothing to explain.
        await pilot.press("up")
        await pilot.pause()
        assert not screen.query_one("#detail-box").display
        await pilot.press("down", "r")
        await until(pilot, lambda: fake.restarted == ["weather"], "the restart")
        await until(pilot, lambda: "'weather' is ready" in screen_text(app), "the outcome")
        assert isinstance(app.screen, ChatScreen)
        assert app.status.mcp_failed == 0 and app.status.mcp_ready == 2


async def test_mcp_retry_command_reports_a_second_failure_with_its_stderr() -> None:
    fake = failing_runtime()
    fake.after_restart["weather"] = ServerInfo("weather", "stdio", "failed", error=STDERR_ERROR)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/mcp retry weather")
        await until(pilot, lambda: "did not start" in screen_text(app), "the outcome")
        assert fake.restarted == ["weather"]
        note = app.chat.transcript.records[-1]
        assert isinstance(note, NoteRecord) and note.kind == "warning"
        assert note.text.startswith("'weather' did not start: exited during startup")
        assert "/mcp retry weather tries again" in note.text
        assert "command: python weather_server.py" in note.text and "WEATHER_TOKEN" in note.text
        await send(pilot, "/mcp retry nosuch")
        await pilot.pause()
        assert "no MCP server named 'nosuch'" in screen_text(app)


@pytest.mark.parametrize("width", [80, 120])
async def test_slash_menu_descriptions_start_after_the_labels_and_fit(
    fake: FakeRuntime, width: int
) -> None:
    app = make_app(fake)
    async with app.run_test(size=(width, 40)) as pilot:
        await ready(pilot)
        await pilot.press("slash")
        menu = app.chat.query_one(CompletionMenu)
        await until(pilot, lambda: menu.shown, "the slash menu")
        await pilot.pause()
        prompts = [menu.get_option_at_index(i).prompt for i in range(menu.option_count)]
        assert len(prompts) == len(commands.COMMANDS)
        # One line per command: nothing wraps.
        assert menu.virtual_size.height == menu.option_count
        inner = menu.scrollable_content_region.width
        starts = set()
        for prompt, command in zip(prompts, commands.COMMANDS, strict=True):
            plain = prompt.plain if isinstance(prompt, RichText) else str(prompt)
            assert len(plain) <= inner, plain
            starts.add(plain.index(command.help[:8]))
        # Every description starts in the same column, right after the (capped) labels.
        assert len(starts) == 1
        start = starts.pop()
        assert start <= LABEL_CAP + GAP
        assert start >= len("/sessions") + GAP


async def test_unknown_launch_agent_names_the_nearest(fake: FakeRuntime) -> None:
    app = make_app(fake, agent="codr")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.agent is None
        assert "No agent named 'codr' (the nearest is 'coder')" in screen_text(app)
