"""Pilot tests of the chat screen against the scripted fake runtime."""

from __future__ import annotations

import pytest
from textual import events

from muxi_cli.tui.model import ReplyRecord, ToolCall, UserRecord
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from muxi_cli.tui.widgets.memories import RecalledMemories
from muxi_cli.tui.widgets.messages import ErrorBox
from muxi_cli.tui.widgets.prompt import PromptInput
from muxi_cli.tui.widgets.reply import ReplyView
from muxi_cli.tui.widgets.tool_call import ToolCallEntry
from tests.tui.conftest import SIZE, idle, make_app, ready, screen_text, send, until
from tests.tui.fake_runtime import (
    BrokenRuntime,
    Delegate,
    Fail,
    FakeRuntime,
    Gate,
    Memories,
    Raw,
    Route,
    Text,
    Tool,
    Usage,
)


def last_reply(app) -> ReplyRecord:
    records = [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)]
    assert records, "no reply in the transcript"
    return records[-1]


async def test_input_has_focus_and_status_shows_connection(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert isinstance(app.focused, PromptInput)
        assert app.status.connected and app.status.connection == "local"
        assert app.status.mcp_ready == 1 and app.status.mcp_failed == 1
        assert app.status.model == "fake/model-1"


async def test_send_streams_reply_and_keeps_session(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press(*"hello", "enter")
        await idle(pilot)
        assert fake.requests[0].message == "hello"
        assert fake.requests[0].approval == "interactive"
        assert fake.requests[0].session_id is None
        reply = last_reply(app)
        assert reply.text == "You said: hello"
        assert reply.state == "done"
        assert "You said: hello" in screen_text(app)
        assert app.chat.prompt.text == ""
        # Usage reaches the status bar and the reply's footer.
        assert app.usage.total == 30 and app.status.usage.cost_usd == 0.0012

        await send(pilot, "again")
        await idle(pilot)
        assert fake.requests[1].session_id == app.session_id == "sess_0001"
        assert app.usage.total == 60


async def test_routing_is_shown_per_reply(fake: FakeRuntime) -> None:
    fake.script(Route("coder", "the question is about code", "llm"), Text("ok"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "fix my loop")
        await idle(pilot)
        reply = last_reply(app)
        assert (reply.agent, reply.route_reason, reply.route_method) == (
            "coder",
            "the question is about code",
            "llm",
        )
        header = str(app.chat.query_one(ReplyView)._header.render())
        assert "coder" in header and "the question is about code" in header


async def test_newline_keys_and_paste_never_send(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a", "ctrl+j", "b", "shift+enter", "c")
        assert app.chat.prompt.text == "a\nb\nc"
        app.post_message(events.Paste("line one\nline two\n"))  # as the driver delivers it
        await pilot.pause()
        assert app.chat.prompt.text.endswith("cline one\nline two\n")
        assert fake.requests == []
        await pilot.press("enter")
        await idle(pilot)
        assert fake.requests[0].message == "a\nb\ncline one\nline two\n"


async def test_up_and_down_recall_earlier_prompts(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for text in ("first", "second"):
            await send(pilot, text)
            await idle(pilot)
        prompt = app.chat.prompt
        await pilot.press(*"draft")
        await pilot.press("up")
        assert prompt.text == "second"
        await pilot.press("up")
        assert prompt.text == "first"
        await pilot.press("up")  # the oldest stays
        assert prompt.text == "first"
        await pilot.press("down")
        assert prompt.text == "second"
        await pilot.press("down")
        assert prompt.text == "draft"


async def test_up_moves_the_cursor_inside_a_multiline_prompt(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "earlier")
        await idle(pilot)
        await pilot.press("x", "ctrl+j", "y")
        await pilot.press("up")  # cursor was on the second line: it moves up, no recall
        assert app.chat.prompt.text == "x\ny"
        assert app.chat.prompt.cursor_location[0] == 0
        await pilot.press("up")
        assert app.chat.prompt.text == "earlier"


async def test_escape_cancels_and_keeps_streamed_text(fake: FakeRuntime) -> None:
    fake.script(Text("partial answer "), Gate("hold"), Text("never shown"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "long question")
        await until(pilot, lambda: "partial" in last_reply(app).text, "the first delta")
        assert app.chat.busy
        await pilot.press("escape")
        await idle(pilot)
        reply = last_reply(app)
        assert reply.state == "cancelled"
        assert reply.text == "partial answer "
        assert "partial answer" in screen_text(app)
        assert "never shown" not in screen_text(app)
        assert fake.closed_runs == ["run_0002"]
        assert fake.cancelled == ["run_0002"]
        # The app goes on: the next message works.
        await send(pilot, "next")
        await idle(pilot)
        assert last_reply(app).text == "You said: next"
        assert isinstance(app.focused, PromptInput)


async def test_tool_approval_allow_once(fake: FakeRuntime) -> None:
    fake.script(
        Text("Let me add. "),
        Tool("add", {"a": 1, "b": 2}, '{"sum": 3}', approval="ask"),
        Text("It is 3."),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "1+2?")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        call = app.focused.call
        assert call.status == "pending" and call.name == "demo.add"
        await pilot.press("1")
        await idle(pilot)
        assert fake.approvals == [(call.call_id, "allow")]
        assert call.status == "ok" and call.result == '{"sum": 3}' and call.duration_ms == 12
        assert call.decided_by == "allowed by user"
        assert not app.chat.query(ApprovalPrompt)
        assert last_reply(app).text == "Let me add. It is 3."
        assert isinstance(app.focused, PromptInput)


async def test_tool_approval_deny(fake: FakeRuntime) -> None:
    fake.script(Tool("add", {"a": 1, "b": 2}, approval="ask"), Text("Okay, I will not."))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "add")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        await pilot.press("n")
        await idle(pilot)
        call = next(p for p in last_reply(app).parts if isinstance(p, ToolCall))
        assert fake.approvals == [(call.call_id, "deny")]
        assert call.status == "denied"
        entry = app.chat.query_one(ToolCallEntry)
        assert entry.has_class("-denied") and "denied" in entry.title


async def test_tool_approval_always_with_arrow_keys(fake: FakeRuntime) -> None:
    fake.script(Tool("add", {"a": 1, "b": 2}, approval="ask"), Text("done"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "add")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        await pilot.press("right", "enter")
        await idle(pilot)
        assert fake.approvals[0][1] == "always"


async def test_escape_while_waiting_for_approval_cancels_the_reply(fake: FakeRuntime) -> None:
    fake.script(Tool("add", {"a": 1}, approval="ask"), Text("fine"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "add")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        prompt = app.focused
        assert isinstance(prompt, ApprovalPrompt)
        # Both the prompt and the spinner line say what Esc does.
        assert "Esc cancels the reply" in str(prompt.render())
        assert "Esc cancels the reply" in str(app.chat.working.render())
        call = prompt.call
        await pilot.press("escape")  # one press, with the approval prompt focused
        await idle(pilot)
        assert fake.approvals == []  # nothing decided: the turn was cancelled
        assert last_reply(app).state == "cancelled"
        assert call.status == "denied" and "cancelled" in (call.decided_by or "")
        assert not app.chat.query(ApprovalPrompt)
        assert isinstance(app.focused, PromptInput)


async def test_tool_error_is_shown_in_the_entry(fake: FakeRuntime) -> None:
    fake.script(Tool("fail", {}, "Error: it broke", ok=False), Text("The tool failed."))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "break it")
        await idle(pilot)
        entry = app.chat.query_one(ToolCallEntry)
        assert entry.call.status == "error" and entry.has_class("-error")
        assert "failed" in entry.title
        entry.collapsed = False
        await pilot.pause()
        assert "it broke" in str(entry._detail.render())
        assert last_reply(app).state == "done"


async def test_tool_progress_shows_in_the_running_entry(fake: FakeRuntime) -> None:
    """``tool.progress`` (issue 23): the running call's title says how far it is."""
    call = {"call_id": "c1", "server": "prog", "tool": "count", "arguments": {"steps": 4}}
    fake.script(
        Raw("tool.requested", call),
        Raw("tool.approval", {"call_id": "c1", "decision": "allowed", "by": "policy"}),
        Raw("tool.progress", {"call_id": "c1", "progress": 1, "total": 4, "message": "step 1"}),
        Raw(
            "tool.progress",
            {"call_id": "c1", "progress": 2, "total": 4, "message": "step\x1b[2J 2"},
        ),
        Gate("hold"),
        Raw("tool.result", {"call_id": "c1", "ok": True, "content": "counted", "duration_ms": 5}),
        Text("Done."),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "count")
        await until(pilot, lambda: bool(app.chat.query(ToolCallEntry)), "the tool entry")
        entry = app.chat.query_one(ToolCallEntry)
        await until(pilot, lambda: "50% · step 2" in str(entry.title), "the progress")
        assert "\x1b" not in str(entry.title)
        fake.open_gate("hold")
        await idle(pilot)
        assert entry.call.status == "ok" and "%" not in str(entry.title)


async def test_run_failed_shows_error_with_hint_and_keeps_prompt(fake: FakeRuntime) -> None:
    fake.script(
        Text("Start"),
        Fail("auth_error", "The provider rejected the key.", "Store a new key with muxi init."),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "my important prompt")
        await idle(pilot)
        reply = last_reply(app)
        assert reply.state == "failed"
        assert reply.error is not None and reply.error.code == "auth_error"
        box = app.chat.query_one(ErrorBox)
        shown = str(box.render())
        assert (
            "The provider rejected the key." in shown and "Store a new key with muxi init." in shown
        )
        assert app.chat.prompt.text == "my important prompt"
        # Not dead: the next turn works.
        app.chat.prompt.clear_input()
        await send(pilot, "retry")
        await idle(pilot)
        assert last_reply(app).state == "done"


async def test_runtime_exception_is_shown_and_prompt_kept() -> None:
    runtime = BrokenRuntime()
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "hello?")
        await idle(pilot)
        reply = last_reply(app)
        assert reply.state == "failed" and reply.error is not None
        assert (
            reply.error.message == "provider unreachable"
            and reply.error.hint == "Check your network."
        )
        assert app.chat.prompt.text == "hello?"
        assert app.is_running


async def test_bug_in_runtime_does_not_kill_the_app(fake: FakeRuntime) -> None:
    from tests.tui.fake_runtime import Raise

    fake.script(Text("a"), Raise(KeyError("boom")))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "x")
        await idle(pilot)
        reply = last_reply(app)
        assert reply.state == "failed" and reply.error is not None
        assert reply.error.code == "internal_error" and "KeyError" in reply.error.message


async def test_unknown_events_are_ignored(fake: FakeRuntime) -> None:
    fake.script(
        Raw("future.event", {"anything": [1, 2]}),
        Text("still fine"),
        Raw("text.delta.v2", {"text": "x"}),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "go")
        await idle(pilot)
        assert last_reply(app).text == "still fine"
        assert last_reply(app).state == "done"


async def test_delegated_agent_is_nested(fake: FakeRuntime) -> None:
    fake.script(
        Route("planner", "needs research", "llm"),
        Text("Asking the researcher. "),
        Delegate(
            "researcher",
            [Text("Found three sources."), Tool("search", {"q": "x"}, "3 hits"), Usage(5, 5, None)],
        ),
        Text("Summary done."),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "research this")
        await idle(pilot)
        reply = last_reply(app)
        nested = [p for p in reply.parts if isinstance(p, ReplyRecord)]
        assert len(nested) == 1
        child = nested[0]
        assert child.agent == "researcher" and child.depth == 1 and child.state == "done"
        assert child.text == "Found three sources."
        assert any(isinstance(p, ToolCall) and p.result == "3 hits" for p in child.parts)
        assert reply.text == "Asking the researcher. Summary done."
        views = list(app.chat.query(ReplyView))
        assert any(v.has_class("-nested") for v in views)
        assert app.usage.input_tokens == 5  # delegate usage counts for the session


async def test_recalled_memories_expand(fake: FakeRuntime) -> None:
    fake.script(
        Memories([{"id": "m1", "kind": "fact", "text": "The user likes tea", "score": 0.91}]),
        Text("Tea it is."),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "drink?")
        await idle(pilot)
        memories = app.chat.query_one(RecalledMemories)
        assert memories.collapsed
        assert "recalled 1 memory" in memories.title
        memories.query_one("CollapsibleTitle").focus()
        await pilot.press("enter")
        assert not memories.collapsed
        assert "The user likes tea" in screen_text(app)


async def test_mention_sends_to_that_agent(fake: FakeRuntime) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "@coder fix this")
        await idle(pilot)
        assert fake.requests[0].agent == "coder"
        assert fake.requests[0].message == "fix this"
        user = next(r for r in app.chat.transcript.records if isinstance(r, UserRecord))
        assert user.agent == "coder"
        # An unknown @name is warned about (nothing sent); Enter again sends it as text.
        await send(pilot, "@nobody hi")
        await idle(pilot)
        assert len(fake.requests) == 1
        await send(pilot, "@nobody hi")
        await idle(pilot)
        assert fake.requests[1].agent is None and fake.requests[1].message == "@nobody hi"


async def test_sending_while_busy_keeps_the_text(fake: FakeRuntime) -> None:
    fake.script(Gate("g"), Text("done"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "first")
        await until(pilot, lambda: app.chat.busy, "the turn to start")
        await send(pilot, "second")
        assert app.chat.prompt.text == "second"
        assert len(fake.requests) == 1
        fake.open_gate("g")
        await idle(pilot)


async def test_many_fast_deltas_render_in_few_updates(fake: FakeRuntime) -> None:
    words = [f"word{i} " for i in range(2000)]
    fake.script(Text("".join(words)))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        view_calls = 0
        await send(pilot, "long")
        await until(pilot, lambda: app.chat.query(ReplyView), "the reply view")
        view = app.chat.query_one(ReplyView)
        original = view._flush

        async def counting() -> None:
            nonlocal view_calls
            view_calls += 1
            await original()

        view._flush = counting  # type: ignore[method-assign]
        await idle(pilot)
        assert last_reply(app).text == "".join(words)
        assert view_calls < 500  # batched: far fewer Markdown writes than 2,000 deltas
        md = view.query("ReplyMarkdown").last()
        assert md.source == "".join(words)


@pytest.mark.parametrize(
    ("label", "role", "offered"),
    [
        ("local", None, True),
        ("prod", "admin", True),
        ("prod", "user", False),
        ("prod", None, False),
    ],
)
async def test_always_allow_is_offered_only_when_it_is_saved(
    label: str, role: str | None, offered: bool
) -> None:
    fake = FakeRuntime(label=label, mode="local" if label == "local" else "remote", role=role)
    fake.script(Tool("add", {"a": 1}, approval="ask"), Text("done"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.always_saves is offered
        await send(pilot, "add")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        prompt = app.focused
        assert isinstance(prompt, ApprovalPrompt)
        shown = str(prompt.render())
        assert ("Always allow" in shown.splitlines()[2]) is offered
        assert ("only an admin key can save it" in shown) is not offered
        footer = [b.binding.description for b in app.active_bindings.values()]
        assert ("Always allow" in footer) is offered
        await pilot.press("2")
        await pilot.pause()
        if not offered:  # "2" explains instead of allowing once behind the user's back
            assert fake.approvals == [] and prompt.decided is None
            assert any("admin key" in n.message for n in app._notifications)
            await pilot.press("right", "enter")  # two choices: right wraps onto Deny
        await idle(pilot)
        assert fake.approvals[0][1] == ("always" if offered else "deny")


async def test_escape_sequences_from_the_model_never_reach_the_terminal(
    fake: FakeRuntime,
) -> None:
    # OSC 52 (clipboard), OSC 0 (title), OSC 8 (link), CSI, 8-bit CSI: Textual
    # writes segment text as it is, so the chat app must remove them itself.
    hostile = (
        "Hi \x1b]52;c;ZXZpbA==\x07there \x1b]0;pwned\x1b\\[docs](http://x\x1b[2J) "
        "\x1b[31mred\x1b[0m \x9b2Jend"
    )
    fake.script(
        Tool("search", {"q": "\x1b]0;args\x07x"}, result="\x1b]52;c;cmVzdWx0\x07found"),
        Text(hostile, chunks=6),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "hi")
        await idle(pilot)
        reply = last_reply(app)
        shown = screen_text(app)
        (call,) = [p for p in reply.parts if isinstance(p, ToolCall)]
        for text in (reply.text, shown, str(call.result), str(call.arguments)):
            for byte in ("\x1b", "\x07", "\x9b"):
                assert byte not in text, (byte, text)
        assert "Hi there" in reply.text and "red end" in reply.text
