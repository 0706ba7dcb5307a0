"""The Textual-free parts: history, commands, completion, records, logging."""

from __future__ import annotations

import logging
from pathlib import Path

from muxi_cli import paths
from muxi_cli.protocol.records import SessionMessage
from muxi_cli.tui import commands, formatting
from muxi_cli.tui.completer import Sources, complete
from muxi_cli.tui.history import PromptHistory
from muxi_cli.tui.logs import configure_file_logging
from muxi_cli.tui.model import (
    ReplyRecord,
    TextPart,
    ToolCall,
    UserRecord,
    code_blocks,
    records_from_messages,
)


def test_history_walks_and_restores_the_draft(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history = PromptHistory(path, limit=3)
    for text in ("a", "b", "b", "multi\nline", "c"):
        history.add(text)
    assert history.entries == ["b", "multi\nline", "c"]  # dedup of repeats, limit 3
    assert history.previous("draft") == "c"
    assert history.previous("ignored") == "multi\nline"
    assert history.next() == "c"
    assert history.next() == "draft"
    assert history.next() is None
    reloaded = PromptHistory(path, limit=3)
    reloaded.load()
    assert reloaded.entries == ["b", "multi\nline", "c"]


def test_history_ignores_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('"ok"\nnot json\n42\n')
    history = PromptHistory(path)
    history.load()
    assert history.entries == ["ok"]


def test_parse_commands() -> None:
    assert commands.parse("/agent coder") == ("agent", "coder")
    assert commands.parse("  /EXPORT   json ") == ("export", "json")
    assert commands.parse("/quit") == ("exit", "")
    assert commands.parse("//not a command") is None
    assert commands.parse("/usr/bin is a path") is None
    assert commands.parse("hello /help") is None
    assert commands.suggest("sesions") == "sessions"


def test_every_command_has_a_handler() -> None:
    from muxi_cli.tui.screens.chat import ChatScreen

    required = {
        "help",
        "agent",
        "agents",
        "new",
        "sessions",
        "memory",
        "tools",
        "mcp",
        "model",
        "export",
        "copy",
        "clear",
        "cost",
        "exit",
    }
    assert required <= set(commands.BY_NAME)
    for command in commands.COMMANDS:
        assert hasattr(ChatScreen, f"cmd_{command.name}"), command.name
        assert command.title and command.help


def test_completion() -> None:
    sources = Sources(agents=["coder", "critic", "writer"], themes=["nord", "monokai"])
    assert [c.value for c in complete("/ag", 0, 3, sources)] == ["/agent ", "/agents"]
    assert [c.value for c in complete("/agent c", 0, 8, sources)] == ["coder", "critic"]
    assert complete("/agent c", 0, 8, sources)[0].start == 7
    assert [c.value for c in complete("/export j", 0, 9, sources)] == ["json"]
    assert [c.value for c in complete("/theme n", 0, 8, sources)] == ["nord"]
    assert [c.value for c in complete("ask @wr", 0, 7, sources)] == ["@writer "]
    assert complete("ask @wr", 0, 7, sources)[0].start == 4
    assert complete("mail me@wr", 0, 10, sources) == []  # an address is not a mention
    assert complete("line\n/ag", 1, 3, sources) == []  # commands only on the first line
    assert [c.value for c in complete("x\n@c", 1, 2, sources)] == ["@coder ", "@critic "]


def test_records_from_stored_messages() -> None:
    msgs = [
        SessionMessage(1, "s", 1, "user", "add 1 and 2"),
        SessionMessage(
            2,
            "s",
            2,
            "assistant",
            "",
            agent="coder",
            run_id="r1",
            tool_calls=[{"id": "c1", "name": "demo__add", "arguments": '{"a": 1, "b": 2}'}],
        ),
        SessionMessage(3, "s", 3, "tool", '{"sum": 3}', run_id="r1", tool_call_id="c1"),
        SessionMessage(4, "s", 4, "assistant", "It is 3.", agent="coder", run_id="r1"),
        SessionMessage(5, "s", 5, "user", "thanks"),
        SessionMessage(6, "s", 6, "assistant", "You're welcome", run_id="r2", status="cancelled"),
    ]
    records = records_from_messages(msgs)
    assert isinstance(records[0], UserRecord)
    reply = records[1]
    assert isinstance(reply, ReplyRecord) and reply.agent == "coder"
    call = reply.parts[0]
    assert isinstance(call, ToolCall)
    assert (call.server, call.tool, call.arguments, call.result) == (
        "demo",
        "add",
        {"a": 1, "b": 2},
        '{"sum": 3}',
    )
    assert isinstance(reply.parts[1], TextPart) and reply.text == "It is 3."
    assert isinstance(records[2], UserRecord)
    last = records[3]
    assert isinstance(last, ReplyRecord) and last.state == "cancelled"


def test_stored_media_shows_as_a_placeholder() -> None:
    from muxi_cli.protocol import messages as parts

    image = parts.ImagePart(parts.MediaRef("ab" * 32, "image/png", 70, "dot.png"))
    msgs = [
        SessionMessage(1, "s", 1, "user", "what is this?", parts=[parts.TextPart("x"), image]),
        SessionMessage(2, "s", 2, "assistant", "A dot.", run_id="r1"),
    ]
    user, reply = records_from_messages(msgs)
    assert isinstance(user, UserRecord)
    # The text, and the file beside it (drawn as an image or a placeholder by the widget).
    assert user.text == "what is this?"
    assert user.media == (image.media,)
    assert isinstance(reply, ReplyRecord) and reply.text == "A dot."


def test_code_blocks() -> None:
    text = "a\n\n```py\nx = 1\n```\n\n    indented\n\n~~~\ny\n~~~\n"
    assert code_blocks(text) == ["x = 1", "indented", "y"]
    assert code_blocks("no code") == []


def test_usage_cost_is_one_text_for_every_place() -> None:
    from muxi_cli.tui.model import Usage

    assert formatting.usage_cost(Usage()) is None  # nothing used yet
    free = Usage()
    free.add(10, 5, 0.0)
    assert formatting.usage_cost(free) == "$0.00"
    unknown = Usage()
    unknown.add(10, 5, None)
    assert formatting.usage_cost(unknown) == "cost unknown"
    unknown.add(0, 0, None)  # an empty usage event does not make a price unknown
    mixed = Usage()
    mixed.add(10, 5, 0.5)
    mixed.add(10, 5, None)
    assert formatting.usage_cost(mixed) == "$0.50 + unknown"


def test_formatting() -> None:
    assert formatting.tokens(950) == "950" and formatting.tokens(1234) == "1.2k"
    assert (
        formatting.cost(None) == "cost unknown"
        and formatting.cost(0) == "$0.00"
        and formatting.cost(0.0012) == "$0.0012"
        and formatting.cost(1.5) == "$1.50"
    )
    assert (
        formatting.duration(120) == "120 ms"
        and formatting.duration(1500) == "1.5 s"
        and formatting.duration(75000) == "1m15s"
    )
    assert formatting.short_date("2026-01-15T10:30:00.000Z") == "2026-01-15 10:30"
    assert formatting.slug("Plan a trip: Lisbon!") == "plan-a-trip-lisbon"
    assert formatting.one_line({"q": "a  b"}) == 'q="a b"'


def test_logging_goes_to_a_file() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = configure_file_logging()
        logging.getLogger("muxi.test").warning("hello log file")
        for handler in root.handlers:
            handler.flush()
        assert path.parent == paths.data_dir() / "logs"
        assert "hello log file" in path.read_text()
        assert not any(
            isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            for h in root.handlers
        )
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = before
        logging.captureWarnings(False)


def test_help_describes_the_approval_keys_as_bound() -> None:
    from textual.binding import Binding

    from muxi_cli.tui.screens.help import KEYS
    from muxi_cli.tui.widgets.approval import ApprovalPrompt

    section = dict(dict(KEYS)["Tool approval"])
    actions = {
        key: b.action
        for b in ApprovalPrompt.BINDINGS
        if isinstance(b, Binding)
        for key in b.key.split(",")
    }
    assert actions["escape"] == "screen.cancel_reply" and "cancel" in section["Esc"]
    for key in ("3", "n", "d"):
        assert actions[key] == "decide('deny')"
    assert "deny" in section["3 / n / d"]


def test_a_reopened_session_keeps_tool_images() -> None:
    from muxi_cli.protocol import messages as parts

    shot = parts.MediaRef("cd" * 32, "image/png", 90, None, {"width": 8, "height": 4})
    msgs = [
        SessionMessage(1, "s", 1, "user", "screenshot", parts=[parts.TextPart("screenshot")]),
        SessionMessage(
            2,
            "s",
            2,
            "assistant",
            "",
            run_id="r1",
            tool_calls=[{"id": "c1", "name": "browser__shot", "arguments": {}}],
        ),
        SessionMessage(
            3,
            "s",
            3,
            "tool",
            "[image: image/png, 90 bytes]",
            run_id="r1",
            tool_call_id="c1",
            parts=[parts.ToolResultPart("c1", (parts.ImagePart(shot),))],
        ),
        SessionMessage(4, "s", 4, "assistant", "Here it is.", run_id="r1"),
    ]
    user, reply = records_from_messages(msgs)
    assert isinstance(user, UserRecord) and user.media == ()
    assert isinstance(reply, ReplyRecord)
    call = reply.tool("c1")
    assert call is not None and call.media == [shot]
