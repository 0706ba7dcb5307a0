"""The chat app's timeline view: ``t`` on a session in the sessions list,
``/timeline`` for the current session (over the fake runtime and over the real
LocalRuntime with the fake LLM: a calculator call approved in the app)."""

from __future__ import annotations

from pathlib import Path

from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from muxi_cli.protocol.timeline import TimelineRoute, TimelineTool, TimelineTurn
from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.screens.sessions import SessionsScreen
from muxi_cli.tui.screens.timeline import TimelineScreen
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.tui.conftest import SIZE, idle, make_app, ready, send, until
from tests.tui.fake_runtime import CLOCK, FakeRuntime


def detail(app: MuxiApp) -> str:
    return str(app.screen.query_one("#detail", Static).render())


def scripted_timeline() -> list[TimelineTurn]:
    writer = TimelineTurn("run_2", "run_1", CLOCK, "writer", "fake/w", input_tokens=7)
    return [
        TimelineTurn(
            "run_1",
            started_at=CLOCK,
            agent="coder",
            model="fake/model-2",
            first_token_ms=120,
            duration_ms=2300,
            input_tokens=1200,
            output_tokens=40,
            cost_usd=0.0123,
            route=TimelineRoute("llm", "it is [b]code[/b]", router_model="fake/r"),
            tools=[
                TimelineTool("add", "demo", "failed", "allowed", "user", 15),
                TimelineTool("writer", "agent", "ok", "allowed", "policy", 900),
            ],
            delegations=[writer],
            message="add these up",
        ),
        TimelineTurn(
            "run_3",
            started_at=CLOCK,
            agent="assistant",
            status="cancelled",
            error_code="cancelled",
            message="never mind",
        ),
    ]


async def test_t_in_the_sessions_list_opens_the_highlighted_sessions_timeline() -> None:
    fake = FakeRuntime()
    sid = fake.add_session("Sums", [("add these up", "3")], agent="coder")
    asked: list[str] = []

    async def timeline(session_id: str, user_id: str | None = None) -> list[TimelineTurn]:
        asked.append(session_id)
        return scripted_timeline()

    fake.timeline = timeline  # type: ignore[method-assign]
    app = make_app(fake)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, "the session")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the timeline")
        rows = app.screen.query_one(DataTable)
        await until(pilot, lambda: rows.row_count == 3, "two turns and a delegate")
        assert asked == [sid]
        # the latest turn is highlighted, its details below
        assert "never mind" in detail(app) and "cancelled" in detail(app)
        first = [str(c) for c in rows.get_row("run_1")]
        assert first[2:6] == ["coder", "llm", "fake/model-2", "completed"]
        assert first[6:] == ["120ms", "2.3s", "1.2k/40", "$0.01", "2 (1 failed)"]
        assert str(rows.get_row("run_2")[2]) == "  ↳ writer"
        rows.move_cursor(row=rows.get_row_index("run_1"))
        await until(pilot, lambda: "add these up" in detail(app), "the first turn's details")
        text = detail(app)
        assert "routed: llm: it is [b]code[/b] (router fake/r)" in text  # not markup
        assert "→ add (demo) failed 15ms, allowed by user" in text
        assert "↳ writer: completed" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "back to the list")


async def test_slash_timeline_shows_the_current_session() -> None:
    app = make_app(FakeRuntime())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/timeline")
        await pilot.pause()
        assert not isinstance(app.screen, TimelineScreen)  # no session yet
        await send(pilot, "hello there")
        await idle(pilot)
        await send(pilot, "/timeline")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the timeline")
        await until(pilot, lambda: "hello there" in detail(app), "the turn")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TimelineScreen), "closed")


async def test_the_timeline_of_a_real_turn(fake_llm: FakeLLM, tmp_path: Path) -> None:
    path = tmp_path / "muxi.yaml"
    extra = "agents:\n  - name: assistant\n    tools:\n      - builtin: calculator\n        approval: ask\n"
    path.write_text(fake_llm.formation_yaml(extra=extra), encoding="utf-8")

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    fake_llm.script(
        ToolCalls([("calculator", {"expression": "6 * 7"})], usage=(12, 3)),
        Text("It is 42.", usage=(20, 4)),
    )
    app = MuxiApp(factory, cursor_blink=False, config_path=str(path))
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "what is 6 * 7?\nshow your work")
        await until(pilot, lambda: app.chat.query(ApprovalPrompt), "the approval prompt")
        await pilot.press("1")
        await idle(pilot)
        await send(pilot, "/timeline")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the timeline")
        rows = app.screen.query_one(DataTable)
        await until(pilot, lambda: rows.row_count == 1, "the turn")
        cells = [str(c) for c in rows.get_row_at(0)]
        assert cells[2:6] == ["assistant", "single", "openai/fake-model", "completed"]
        assert cells[8] == "32/7" and cells[10] == "1"
        text = detail(app)
        assert "“what is 6 * 7?”" in text and "show your work" not in text
        assert "calculator (builtin) ok" in text and "allowed by user" in text


async def test_a_session_title_in_the_border_is_text_not_markup() -> None:
    # A title is the user's own words (or a rename): "[/b]" must not crash the
    # screen and "[@click=...]"/"[link=...]" must not become an action or a link.
    title = "sums [/b] [@click=app.quit]quit[/] [link='https://evil.example']x[/link]\x1b[31m"
    fake = FakeRuntime()
    sid = fake.add_session(title, [("add these up", "3")], agent="coder")
    app = make_app(fake)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        app.push_screen(TimelineScreen(fake, sid, title))
        await until(pilot, lambda: bool(app.screen.query("#rows")), "the timeline")
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the turn")
        box = app.screen.query_one(Vertical)
        shown = box._border_title
        assert shown is not None
        assert shown.plain == "Timeline · " + title.replace("\x1b[31m", "")
        assert not [s for s in shown.spans if "click" in str(s.style) or "link" in str(s.style)]


async def test_the_sessions_list_shows_a_hostile_title_as_text() -> None:
    # Where the timeline is opened from: the list, the delete question and its
    # notice showed the title as markup, so "[/b]" crashed the app.
    title = "sums [/b] [@click=app.quit]quit[/]"
    fake = FakeRuntime()
    fake.add_session(title, [("add these up", "3")], agent="coder")
    app = make_app(fake)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, "the session")
        assert str(table.get_row_at(0)[1]) == title
        await pilot.press("d")
        await until(pilot, lambda: not isinstance(app.screen, SessionsScreen), "the question")
        assert title in str(app.screen.query_one(".title", Label).render())
        await pilot.press("y")
        await until(pilot, lambda: table.row_count == 0, "deleted")
        await pilot.pause()
        assert app.is_running
