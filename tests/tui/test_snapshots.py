"""SVG snapshots of the main screens (pytest-textual-snapshot).

Deterministic: fixed size, no cursor blink, and a fake runtime with fixed
ids and clock. Update with ``pytest tests/tui/test_snapshots.py --snapshot-update``
after checking the new pictures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import TabbedContent

from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.screens.help import HelpScreen
from muxi_cli.tui.screens.sessions import SessionsScreen
from muxi_cli.tui.screens.setup import SetupScreen
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from tests.tui.conftest import SIZE, idle, make_app, ready, send, until
from tests.tui.fake_runtime import Fail, FakeRuntime, Memories, Route, Text, Tool, Usage

REPLY = """Here is a quick comparison:

| language | typing |
|---|---|
| Python | dynamic |
| Rust | static |

```python
def add(a: int, b: int) -> int:
    return a + b
```

- short
- clear
"""


def conversation_runtime() -> FakeRuntime:
    fake = FakeRuntime()
    fake.script(
        Route("coder", "the question is about code", "llm"),
        Memories(
            [{"id": "m1", "kind": "preference", "text": "Prefers Python examples", "score": 0.87}]
        ),
        Tool("add", {"a": 2, "b": 3}, '{"sum": 5}', duration_ms=42),
        Text(REPLY),
        Usage(1200, 340, 0.0042, "fake/model-2"),
    )
    return fake


async def _ready(pilot: Pilot[Any]) -> MuxiApp:
    app = await ready(pilot)
    # Toasts (e.g. the fake's failed 'broken' MCP server, announced at start) time out,
    # so a picture with them would depend on when it was taken; tests check them apart.
    app.clear_notifications()
    await pilot.pause()
    return app


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def test_empty_chat(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await _settle(pilot)

    assert snap_compare(make_app(FakeRuntime()), terminal_size=SIZE, run_before=run_before)


def test_conversation_with_tool_and_memories(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await send(pilot, "Compare Python and Rust typing, and add 2 and 3")
        await idle(pilot)
        await _settle(pilot)

    assert snap_compare(make_app(conversation_runtime()), terminal_size=SIZE, run_before=run_before)


def test_approval_prompt(snap_compare: Any) -> None:
    fake = FakeRuntime()
    fake.script(
        Text("I need the calculator. "),
        Tool("add", {"a": 40, "b": 2}, "42", approval="ask"),
        Text("42"),
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await _ready(pilot)
        await send(pilot, "what is 40 + 2?")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        app.chat.working.stop()  # the spinner animates; keep the picture still
        await _settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)


def test_error_in_place(snap_compare: Any) -> None:
    fake = FakeRuntime()
    fake.script(
        Fail(
            "auth_error",
            "The provider rejected the API key.",
            "Store a new key: muxi init, or set ANTHROPIC_API_KEY.",
        )
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await send(pilot, "hello?")
        await idle(pilot)
        await _settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)


def test_completion_menu(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await pilot.press("slash", "s")
        await _settle(pilot)

    assert snap_compare(make_app(FakeRuntime()), terminal_size=SIZE, run_before=run_before)


def test_slash_menu_at_120_columns(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await pilot.press("slash")
        await _settle(pilot)

    assert snap_compare(make_app(FakeRuntime()), terminal_size=(120, 40), run_before=run_before)


def test_mcp_failure_details(snap_compare: Any) -> None:
    from muxi_cli.tui.screens.mcp_servers import McpServersScreen
    from tests.tui.test_visibility import failing_runtime

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await _ready(pilot)
        await send(pilot, "/mcp")
        await until(pilot, lambda: isinstance(app.screen, McpServersScreen), "the MCP table")
        await _settle(pilot)

    assert snap_compare(make_app(failing_runtime()), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await _ready(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await _settle(pilot)

    assert snap_compare(make_app(FakeRuntime()), terminal_size=SIZE, run_before=run_before)


def test_sessions_screen(snap_compare: Any) -> None:
    fake = FakeRuntime()
    fake.add_session("Trip planning", [("Where to go?", "Lisbon")])
    fake.add_session("Code review of the parser", [("Review", "Looks good")], agent="coder")
    fake.add_session(
        "Weekly summary", [("Summarise", "Done"), ("More", "Sure")], agent="researcher"
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await _ready(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
        await until(pilot, lambda: app.screen.table.row_count == 3, "the rows")
        await _settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)


def test_setup_screen(snap_compare: Any) -> None:
    # A formation named relative to the (temporary) cwd, so the path shown is stable.
    Path("muxi.yaml").write_text("agents: []\n", encoding="utf-8")
    app = MuxiApp(runtime=FakeRuntime(model=None), cursor_blink=False, config_path="muxi.yaml")

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, SetupScreen), "the setup screen")
        await until(pilot, lambda: pilot.app.focused is not None, "the key input to take focus")
        await _settle(pilot)
        pilot.app.screen.query_one(TabbedContent).active = "local"
        await _settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_attachments_and_media(snap_compare: Any, tmp_path: Path) -> None:
    """Chips above the input (one refused, with its reason), a sent file's
    placeholder, an attachment's processing line, and /speak in the status bar."""
    from muxi_cli.protocol.messages import MediaRef
    from muxi_cli.tui.model import UserRecord
    from tests.tui.fake_runtime import Raw

    (tmp_path / "notes.md").write_text("# Notes\n" * 40)
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4\n" + b"0" * 3000)
    fake = FakeRuntime()
    fake.max_media_bytes = 2048
    fake.script(
        Raw(
            "media.processed",
            {
                "media_id": "ab" * 32,
                "name": "photo.jpg",
                "media_type": "image/jpeg",
                "derived": ["ocr"],
                "meta": {"width": 1024, "height": 768},
            },
        ),
        Text("It is a receipt."),
    )
    photo = MediaRef("ab" * 32, "image/jpeg", 183_456, "photo.jpg", {"width": 1024, "height": 768})

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await _ready(pilot)
        await app.chat.transcript.add(UserRecord("what is this?", media=(photo,)))
        await send(pilot, "read it")
        await idle(pilot)
        await app.chat.attach_paths([tmp_path / "notes.md", tmp_path / "scan.pdf"])
        await send(pilot, "and these?")
        await idle(pilot)
        app.chat.status_bar.change(speaking=True)
        app.clear_notifications()
        await _settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)
