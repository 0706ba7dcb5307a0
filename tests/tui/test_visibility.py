"""The chat app says why: unknown @names and failed routes."""

from __future__ import annotations

from muxi_cli.tui.model import NoteRecord, ReplyRecord
from tests.tui.conftest import SIZE, idle, make_app, ready, screen_text, send
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
