"""Slash commands, completion, the palette and the screens they open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Label, OptionList

from muxi_cli import paths
from muxi_cli.tui.commands import COMMANDS
from muxi_cli.tui.model import NoteRecord, ReplyRecord, UserRecord
from muxi_cli.tui.screens.agents import AgentPicker
from muxi_cli.tui.screens.chat import ChatScreen
from muxi_cli.tui.screens.dialogs import ConfirmDialog, InputDialog
from muxi_cli.tui.screens.help import HelpScreen
from muxi_cli.tui.screens.info import TableScreen
from muxi_cli.tui.screens.memory import MemoryScreen
from muxi_cli.tui.screens.sessions import SessionsScreen
from muxi_cli.tui.widgets.completion import CompletionMenu
from muxi_cli.tui.widgets.prompt import PromptInput
from tests.tui.conftest import SIZE, idle, make_app, ready, send, until
from tests.tui.fake_runtime import FakeRuntime, Text, Usage


def notes(app) -> list[str]:
    return [r.text for r in app.chat.transcript.records if isinstance(r, NoteRecord)]


async def test_help_opens_and_closes(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/help")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        source = app.screen.query_one("Markdown").source
        for needle in ("Ctrl+J", "Shift+Enter", "/export", "always allow", "Ctrl+N"):
            assert needle in source
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
        assert isinstance(app.focused, PromptInput)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen via F1")


async def test_slash_completion_with_tab_and_enter(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        menu = app.chat.query_one(CompletionMenu)
        await pilot.press("slash")
        await pilot.pause()
        assert menu.shown and len(menu.candidates) == len(COMMANDS)
        await pilot.press(*"ses")
        await pilot.pause()
        assert [c.value for c in menu.candidates] == ["/sessions"]
        await pilot.press("tab")
        assert app.chat.prompt.text == "/sessions"
        assert not menu.shown
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")


async def test_enter_on_highlighted_command_runs_it(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("slash", "c", "o")
        menu = app.chat.query_one(CompletionMenu)
        await pilot.pause()
        assert [c.value for c in menu.candidates] == ["/copy ", "/cost"]
        await pilot.press("down", "enter")  # /cost takes no argument: runs at once
        await until(pilot, lambda: any("input tokens" in n for n in notes(app)), "the /cost note")
        assert app.chat.prompt.text == ""


async def test_agent_completion_after_at(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press(*"hey @co")
        menu = app.chat.query_one(CompletionMenu)
        await pilot.pause()
        assert [c.value for c in menu.candidates] == ["@coder "]
        await pilot.press("tab")
        assert app.chat.prompt.text == "hey @coder "
        await pilot.press("escape")  # nothing to close, nothing running: harmless
        assert app.chat.prompt.text == "hey @coder "


async def test_agent_command_and_picker(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/agent coder")
        await pilot.pause()
        assert app.agent == "coder" and app.status.agent == "coder"
        assert app.status.model == "fake/model-2"
        await send(pilot, "hi")
        await idle(pilot)
        assert fake.requests[-1].agent == "coder"

        await send(pilot, "/agent nobody")
        await pilot.pause()
        assert app.agent == "coder"
        assert app.chat.prompt.text == "/agent nobody"  # kept so it can be fixed
        assert "The nearest is" in notes(app)[-1]
        app.chat.prompt.clear_input()

        await pilot.press("ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, AgentPicker), "the agent picker")
        options = app.screen.query_one(OptionList)
        assert options.highlighted == options.get_option_index("coder")
        await pilot.press("home", "enter")  # "automatic"
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
        assert app.agent is None


async def test_new_session_with_ctrl_n(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "one")
        await idle(pilot)
        assert app.session_id == "sess_0001"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.session_id is None, "a new session")
        assert app.chat.transcript.records == []
        assert app.usage.total == 0
        await send(pilot, "two")
        await idle(pilot)
        assert fake.requests[-1].session_id is None
        assert app.session_id not in (None, "sess_0001")


async def test_sessions_screen_switch_rename_delete_search(fake: FakeRuntime) -> None:
    older = fake.add_session("Trip planning", [("Where to go?", "Try **Lisbon**.")])
    fake.add_session("Code review", [("Review this", "Looks good")], agent="coder")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
        screen = app.screen
        table = screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 2, "two sessions")

        # search by content
        screen.query_one(Input).value = "lisbon"
        await until(pilot, lambda: table.row_count == 1, "the search result")
        screen.query_one(Input).value = ""
        await until(pilot, lambda: table.row_count == 2, "all sessions again")
        table.focus()

        # rename the highlighted (newest) session
        table.move_cursor(row=1)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, InputDialog), "the rename dialog")
        app.screen.query_one(Input).value = "Lisbon trip"
        await pilot.press("enter")
        await until(pilot, lambda: fake.sessions_data[older].title == "Lisbon trip", "the rename")

        # open it
        await until(
            pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen again"
        )
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index(older))
        await pilot.press("enter")
        await until(pilot, lambda: app.session_id == older, "the session switch")
        records = app.chat.transcript.records
        assert isinstance(records[0], UserRecord) and records[0].text == "Where to go?"
        assert isinstance(records[1], ReplyRecord) and records[1].text == "Try **Lisbon**."
        assert app.sub_title == "Lisbon trip"
        await send(pilot, "and food?")
        await idle(pilot)
        assert fake.requests[-1].session_id == older

        # delete the current session: the app starts a new one
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 2, "the rows")
        table.move_cursor(row=table.get_row_index(older))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: older not in fake.sessions_data, "the delete")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
        await pilot.press("escape")
        await until(pilot, lambda: app.session_id is None, "a fresh session")


async def test_memory_screen_add_search_forget(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/memory")
        await until(pilot, lambda: isinstance(app.screen, MemoryScreen), "the memory screen")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, InputDialog), "the add dialog")
        await pilot.press(*"I like green tea", "enter")
        await until(pilot, lambda: len(fake.memories) == 1, "the new memory")
        assert fake.memories[0].text == "I like green tea"
        screen = app.screen
        assert isinstance(screen, MemoryScreen)
        table = screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, "the row")
        await pilot.press("slash", *"coffee", "enter")
        await until(pilot, lambda: table.row_count == 0, "no match")
        screen.query_one(Input).value = "tea"
        await pilot.press("enter")
        await until(pilot, lambda: table.row_count == 1, "a match")
        table.focus()
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: fake.memories == [], "the forget")


async def test_memory_screen_shows_a_hostile_memory_as_text(fake: FakeRuntime) -> None:
    # A memory's text comes from what the user said: "[/b]" in a str cell is
    # markup and crashed the app when the memory screen opened.
    text = "likes [/b] tea [@click=app.quit]q[/]"
    await fake.memory_add(text)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/memory")
        await until(pilot, lambda: isinstance(app.screen, MemoryScreen), "the memory screen")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, "the row")
        assert str(table.get_row_at(0)[1]) == text
        table.focus()
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: fake.memories == [], "the forget")


async def test_export_md_and_json_to_cwd(fake: FakeRuntime, tmp_path: Path) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/export")
        await until(
            pilot, lambda: any("Nothing to export" in n for n in notes(app)), "the empty note"
        )
        await send(pilot, "plan a trip")
        await idle(pilot)
        await send(pilot, "/export md")
        await until(
            pilot, lambda: any(n.startswith("Exported") for n in notes(app)), "the export note"
        )
        md = list(Path.cwd().glob("muxi-plan-a-trip-*.md"))
        assert len(md) == 1 and "You said: plan a trip" in md[0].read_text()
        assert str(md[0]) in notes(app)[-1]
        await send(pilot, "/export json")
        await until(pilot, lambda: list(Path.cwd().glob("muxi-*.json")), "the json file")
        data = json.loads(next(Path.cwd().glob("muxi-*.json")).read_text())
        assert data["messages"][0]["content"] == "plan a trip"


async def test_copy_last_reply_and_code_block(fake: FakeRuntime) -> None:
    fake.script(Text("Run this:\n\n```sh\nls -la\n```\n\nthen\n\n```py\nprint(2)\n```\n"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/copy")
        await until(
            pilot, lambda: any("No reply" in n for n in notes(app)), "the nothing-to-copy note"
        )
        await send(pilot, "how?")
        await idle(pilot)
        await send(pilot, "/copy")
        await pilot.pause()
        assert app.clipboard.startswith("Run this:") and "print(2)" in app.clipboard
        await send(pilot, "/copy code 1")
        await pilot.pause()
        assert app.clipboard == "ls -la"
        await send(pilot, "/copy code")
        await pilot.pause()
        assert app.clipboard == "print(2)"


async def test_copy_any_message_from_copy_mode(fake: FakeRuntime) -> None:
    fake.script(Text("```\ncode one\n```"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "first message")
        await idle(pilot)
        await pilot.press("ctrl+up")  # the last message (the reply)
        await pilot.press("b")
        assert app.clipboard == "code one"
        await pilot.press("up", "c")  # the user's message
        assert app.clipboard == "first message"
        await pilot.press("escape")
        assert isinstance(app.focused, PromptInput)


async def test_clear_cost_model_tools_mcp(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "hi")
        await idle(pilot)
        await send(pilot, "/clear")
        await pilot.pause()
        assert [type(r) for r in app.chat.transcript.records] == [NoteRecord]
        assert app.session_id == "sess_0001"  # the session goes on

        await send(pilot, "/cost")
        await pilot.pause()
        assert "input tokens   10" in notes(app)[-1] and "$0.0012" in notes(app)[-1]

        await send(pilot, "/model openai/gpt-test")
        await pilot.pause()
        assert app.model_override == "openai/gpt-test" and app.status.model == "openai/gpt-test"
        await send(pilot, "next")
        await idle(pilot)
        assert fake.requests[-1].model == "openai/gpt-test"
        await send(pilot, "/model default")
        await pilot.pause()
        assert app.model_override is None

        await send(pilot, "/tools")
        await until(pilot, lambda: isinstance(app.screen, TableScreen), "the tools table")
        tools = app.screen.query_one(DataTable)
        assert tools.row_count == 2
        # The source column: MCP tools name their server, others their kind.
        assert [str(tools.get_row_at(i)[1]) for i in range(2)] == ["mcp:demo", "builtin"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
        await send(pilot, "/mcp")
        await until(pilot, lambda: isinstance(app.screen, TableScreen), "the MCP table")
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        assert "connection refused" in [str(c) for c in table.get_row_at(1)]


async def test_mcp_without_servers_says_how_to_add_one(fake: FakeRuntime) -> None:
    fake.server_list = []
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/mcp")
        await until(pilot, lambda: isinstance(app.screen, TableScreen), "the MCP table")
        assert "mcp_servers:" in str(app.screen.query_one("#empty", Label).render())


async def test_theme_is_saved_and_unknown_settings_kept(fake: FakeRuntime) -> None:
    paths.write_private(paths.settings_path(), json.dumps({"always_allow": ["demo.add"]}))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/theme nord")
        await pilot.pause()
        assert app.theme == "nord"
    data = json.loads(paths.settings_path().read_text())
    assert data == {"always_allow": ["demo.add"], "theme": "nord"}

    app2 = make_app(FakeRuntime())
    async with app2.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app2.theme == "nord"


async def test_unknown_command_suggests_and_keeps_text(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/sesions")
        await pilot.pause()
        assert "Did you mean /sessions?" in notes(app)[-1]
        assert app.chat.prompt.text == "/sesions"
        assert fake.requests == []
        app.chat.prompt.clear_input()
        await send(pilot, "//etc/hosts is a file")
        await idle(pilot)
        assert fake.requests[0].message == "/etc/hosts is a file"


async def test_command_palette_runs_the_same_actions(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", "the palette")
        await pilot.press(*"memory")
        from textual.command import CommandList

        commands = app.screen.query_one(CommandList)
        await until(
            pilot,
            lambda: commands.option_count > 0 and commands.highlighted is not None,
            "palette hits",
        )
        assert "Memory" in str(commands.get_option_at_index(commands.highlighted).prompt)
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, MemoryScreen),
            "the memory screen from the palette",
        )


async def test_exit_closes_the_runtime(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/exit")
        await until(pilot, lambda: fake.aclosed, "the runtime to close")
    assert fake.aclosed


@pytest.mark.parametrize(
    ("cost", "shown"), [(0.0, "$0.00"), (None, "cost unknown"), (0.0012, "$0.0012")]
)
async def test_cost_and_status_bar_agree(fake: FakeRuntime, cost: float | None, shown: str) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/cost")  # nothing used yet: free, not "unknown"
        await pilot.pause()
        assert "cost           $0.00" in notes(app)[-1]
        fake.script(Text("hi there"), Usage(10, 5, cost))
        await send(pilot, "hi")
        await idle(pilot)
        bar = str(app.chat.status_bar.render())
        assert f"15 tokens · {shown}  │" in bar
        await send(pilot, "/cost")
        await pilot.pause()
        assert f"cost           {shown}" in notes(app)[-1]
        assert ("pricing:" in notes(app)[-1]) == (cost is None)


async def test_memory_screen_stats_and_map_views(fake: FakeRuntime) -> None:
    from muxi_cli.tui.screens.memory_viz import MemoryVizScreen

    await fake.memory_add("I like green tea")
    await fake.memory_add("<script>alert('x')</script> rides a bike")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/memory")
        await until(pilot, lambda: isinstance(app.screen, MemoryScreen), "the memory screen")
        app.screen.query_one(DataTable).focus()
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, MemoryVizScreen), "the stats view")
        screen = app.screen
        assert isinstance(screen, MemoryVizScreen)

        def body() -> str:
            return str(screen.body.render())

        await until(pilot, lambda: "2 current, 1 replaced" in body(), "the figures")
        assert "User moved to Lisbon" in body() and "I like green tea" in body()
        await pilot.press("m")
        await until(pilot, lambda: "2 memories in 2 groups" in body(), "the map")
        text = body()
        assert "┌" in text and "A " in text and "<script>" in text  # text, not markup
        await pilot.press("s")
        await until(pilot, lambda: "recalls before turns: 3" in body(), "the stats again")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MemoryScreen), "back to the list")
