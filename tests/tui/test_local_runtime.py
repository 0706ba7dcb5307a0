"""The app over the real LocalRuntime, talking to the fake LLM server.

These go through the real provider SDKs, the agent loop, the tool host, the
approval broker and the SQLite session store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.model import ReplyRecord, ToolCall, UserRecord
from muxi_cli.tui.screens.sessions import SessionsScreen
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from muxi_cli.tui.widgets.prompt import PromptInput
from tests.fakellm import Error, FakeLLM, Slow, Text, ToolCalls
from tests.tui.conftest import SIZE, idle, ready, screen_text, send, until

EXTRA = """
agents:
  - name: assistant
    description: General help
    tools:
      - builtin: calculator
        approval: ask
"""


@pytest.fixture
def local_app(fake_llm: FakeLLM, tmp_path: Path) -> MuxiApp:
    path = tmp_path / "muxi.yaml"
    path.write_text(fake_llm.formation_yaml(extra=EXTRA), encoding="utf-8")

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    return MuxiApp(factory, cursor_blink=False, config_path=str(path))


def replies(app: MuxiApp) -> list[ReplyRecord]:
    return [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)]


async def test_send_and_stream(local_app: MuxiApp, fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("Hello from the **fake** model.", chunks=6))
    async with local_app.run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        assert app.status.connection == "local" and app.status.model == "openai/fake-model"
        await send(pilot, "hi there")
        await idle(pilot)
        reply = replies(app)[-1]
        assert reply.state == "done", reply.error
        assert reply.text == "Hello from the **fake** model."
        assert reply.agent == "assistant"
        assert app.session_id
        sent = [r for r in fake_llm.requests if r["path"] == "/v1/chat/completions"][-1]
        assert sent["messages"][-1]["content"] == "hi there"
        assert app.usage.total > 0


async def test_cancel_keeps_what_was_streamed(local_app: MuxiApp, fake_llm: FakeLLM) -> None:
    fake_llm.script(Slow("one two three four five six seven eight nine ten", delay=0.3))
    async with local_app.run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await send(pilot, "count")
        await until(
            pilot, lambda: replies(app) and "one" in replies(app)[-1].text, "the first words"
        )
        await pilot.press("escape")
        await idle(pilot)
        reply = replies(app)[-1]
        assert reply.state == "cancelled"
        assert reply.text.startswith("one") and "ten" not in reply.text
        fake_llm.script(Text("still here"))
        await send(pilot, "again")
        await idle(pilot)
        assert replies(app)[-1].text == "still here"


async def test_tool_approval_allow_and_deny(local_app: MuxiApp, fake_llm: FakeLLM) -> None:
    fake_llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("It is 42."))
    async with local_app.run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await send(pilot, "6 times 7?")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        await pilot.press("y")
        await idle(pilot)
        reply = replies(app)[-1]
        call = next(p for p in reply.parts if isinstance(p, ToolCall))
        assert call.tool == "calculator" and call.status == "ok" and "42" in (call.result or "")
        assert reply.text == "It is 42."

        fake_llm.script(ToolCalls([("calculator", {"expression": "1+1"})]), Text("Fine, no tool."))
        await send(pilot, "1+1?")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the second prompt")
        await pilot.press("n")
        await idle(pilot)
        reply = replies(app)[-1]
        call = next(p for p in reply.parts if isinstance(p, ToolCall))
        assert call.status == "denied"
        assert reply.text == "Fine, no tool."
        assert isinstance(app.focused, PromptInput)


async def test_provider_error_is_shown_and_prompt_kept(
    local_app: MuxiApp, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Error(401))
    async with local_app.run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await send(pilot, "will this work?")
        await idle(pilot)
        reply = replies(app)[-1]
        assert reply.state == "failed" and reply.error is not None
        assert reply.error.hint
        assert app.chat.prompt.text == "will this work?"
        fake_llm.script(Text("now it does"))
        app.chat.prompt.clear_input()
        await send(pilot, "retry")
        await idle(pilot)
        assert replies(app)[-1].text == "now it does"


async def test_switch_sessions_and_export(local_app: MuxiApp, fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("Lisbon is lovely."), Text("Use a list comprehension."))
    async with local_app.run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await send(pilot, "where to travel")
        await idle(pilot)
        first = app.session_id
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.session_id is None, "a new session")
        await send(pilot, "python tip")
        await idle(pilot)
        second = app.session_id
        assert first and second and first != second

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 2, "both sessions")
        table.move_cursor(row=table.get_row_index(first))
        await pilot.press("enter")
        await until(pilot, lambda: app.session_id == first, "the switch")
        records = app.chat.transcript.records
        assert isinstance(records[0], UserRecord) and records[0].text == "where to travel"
        assert isinstance(records[1], ReplyRecord) and records[1].text == "Lisbon is lovely."

        await send(pilot, "/export md")
        await until(pilot, lambda: list(Path.cwd().glob("muxi-*.md")), "the export")
        assert "Lisbon is lovely." in next(Path.cwd().glob("muxi-*.md")).read_text()

        await send(pilot, "/exit")
        await until(pilot, lambda: app.runtime is None, "the runtime to close")


@pytest.mark.skipif(
    not hasattr(LocalRuntime, "put_media"),
    reason="LocalRuntime.put_media arrives with the media runtime work (cli lane)",
)
async def test_an_attached_image_is_stored_and_sent(fake_llm: FakeLLM, tmp_path: Path) -> None:
    import io

    from PIL import Image

    from muxi_cli.tui.widgets.attachments import AttachmentBar

    path = tmp_path / "muxi.yaml"  # a model that sees images
    path.write_text(
        fake_llm.formation_yaml().replace(
            "    api_key: sk-fake\n", "    api_key: sk-fake\n    capabilities: {vision: true}\n"
        ),
        encoding="utf-8",
    )

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    local_app = MuxiApp(factory, cursor_blink=False, config_path=str(path))
    shot = tmp_path / "shot.png"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(buffer, "PNG")
    shot.write_bytes(buffer.getvalue())
    fake_llm.script(Text("A green square."))
    async with local_app.run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        bar = app.chat.query_one(AttachmentBar)
        await send(pilot, f"/attach {shot}")
        await until(pilot, lambda: [i.name for i in bar.items] == ["shot.png"], "the chip")
        item = bar.items[0]
        await send(pilot, "what is this?")
        await idle(pilot)
        assert item.error is None and item.ref is not None
        assert item.ref.media_type == "image/png"
        assert item.ref.meta.get("width") == 40 and item.ref.meta.get("height") == 30
        runtime = app.runtime
        reply = replies(app)[-1]
        assert reply.state == "done", reply.error
        assert runtime is not None and app.session_id
        stored, data = await runtime.get_media(item.ref.id)
        assert stored.id == item.ref.id and data.startswith(b"\x89PNG")
        assert [r.id for r in await runtime.session_media(app.session_id)] == [item.ref.id]
        user = [r for r in app.chat.transcript.records if isinstance(r, UserRecord)][-1]
        assert [ref.id for ref in user.media] == [item.ref.id]
        sent = [r for r in fake_llm.requests if r["path"] == "/v1/chat/completions"][-1]
        content = sent["messages"][-1]["content"]
        assert any(part.get("type") == "image_url" for part in content), content
        assert "📎 shot.png · 40x30" in screen_text(app)  # its media.processed


@pytest.mark.slow
async def test_speak_plays_a_real_reply_through_espeak(
    local_app: MuxiApp, fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/speak over the real runtime: espeak-ng speaks the reply (no speech model
    is configured), and the player found first on PATH (a fake ffplay that keeps a
    copy) gets an MP3 file."""
    import os
    import shutil

    folder = tmp_path / "bin"
    folder.mkdir()
    kept = tmp_path / "played.mp3"
    player = folder / "ffplay"
    copy = shutil.which("cp") or "/bin/cp"
    player.write_text(f'#!/bin/sh\nfor a in "$@"; do last="$a"; done\n{copy} "$last" "{kept}"\n')
    player.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    fake_llm.script(Text("Hello from muxi."))
    async with local_app.run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await send(pilot, "/speak")
        await send(pilot, "say hello")
        await idle(pilot)
        await until(
            pilot, lambda: kept.exists() and kept.stat().st_size > 1000, "the spoken reply", 60
        )
        head = kept.read_bytes()[:3]
        assert head == b"ID3" or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")  # MP3
        assert app.status.speaking


@pytest.mark.slow
async def test_a_tool_image_shows_below_its_call(fake_llm: FakeLLM, tmp_path: Path) -> None:
    """An MCP tool (tests/mcp_servers/demo_server.py's ``pixel``) returns an
    image: the reply shows it below the call, read from the stored tool result."""
    import sys

    from muxi_cli.tui.widgets.media import MediaItem

    demo = Path(__file__).resolve().parent.parent / "mcp_servers" / "demo_server.py"
    extra = (
        f"mcp_servers:\n  demo:\n    command: {sys.executable}\n    args: [{str(demo)!r}]\n"
        "    approval: allow\nagents:\n  - name: a\n    mcp_servers: [demo]\n"
    )
    path = fake_llm.write_formation(tmp_path, extra=extra)

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    fake_llm.script(ToolCalls([("demo__pixel", {})]), Text("One pixel."))
    app = MuxiApp(factory, cursor_blink=False, config_path=str(path))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: app.status.mcp_ready == 1, "the demo MCP server", 60)
        await send(pilot, "draw me a pixel")
        await idle(pilot)
        reply = replies(app)[-1]
        assert reply.state == "done", reply.error
        call = next(p for p in reply.parts if isinstance(p, ToolCall))
        await until(pilot, lambda: bool(call.media), "the tool's image")
        assert call.media[0].media_type == "image/png" and call.media[0].size == 70
        await until(pilot, lambda: len(app.chat.query(MediaItem)) == 1, "the image entry")
        assert app.chat.query_one(MediaItem).ref == call.media[0]
