"""Files in the chat app: /attach with path completion, pasted and dropped
paths as chips, removing chips, sending (the request names stored media),
errors kept in place, and what the transcript shows of media."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual import events

from muxi_cli.tui.widgets.attachments import AttachmentBar, AttachmentChip, RemoveButton
from muxi_cli.tui.widgets.media import MediaItem
from tests.tui.conftest import SIZE, idle, make_app, ready, screen_text, send, until
from tests.tui.fake_runtime import FakeRuntime, Raw, Text, Tool


def png(path: Path | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    if path is not None:
        path.write_bytes(out.getvalue())
    return out.getvalue()


def bar(app: Any) -> AttachmentBar:
    return app.chat.query_one(AttachmentBar)


def names(app: Any) -> list[str]:
    return [item.name for item in bar(app).items]


def footer_offers_removal(app: Any) -> bool:
    return any(
        b.binding.action == "remove_last_attachment" and b.enabled
        for b in app.active_bindings.values()
    )


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    path = tmp_path / "shot one.png"
    png(path, (640, 480))
    return path


async def test_attach_command_adds_a_chip_and_send_carries_the_media_id(
    fake: FakeRuntime, shot: Path
) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, f"/attach {shot}")
        await until(pilot, lambda: names(app) == ["shot one.png"], "the chip")
        chip = app.chat.query_one(AttachmentChip)
        assert "shot one.png · PNG" in str(chip.query_one(".label").render())
        assert bar(app).display
        await send(pilot, "what is this?")
        await idle(pilot)
        request = fake.requests[-1]
        assert request.message == "what is this?"
        [attachment] = request.attachments
        ref = fake.media_puts[0]
        assert attachment.media_id == ref.id and attachment.mime == "image/png"
        assert attachment.name == "shot one.png" and attachment.content == ""
        assert names(app) == [] and not bar(app).has_class("-shown")
        # The message shows the file: a placeholder with name, type, size and dimensions.
        assert "shot one.png · PNG" in screen_text(app) and "640x480" in screen_text(app)
        assert not app.chat.query_one(MediaItem).image_shown  # headless: text only


async def test_text_files_go_as_text_attachments(fake: FakeRuntime, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\nship it\n")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, f"/attach {notes}")
        await until(pilot, lambda: names(app) == ["notes.md"], "the chip")
        await send(pilot, "summarise")
        await idle(pilot)
        [attachment] = fake.requests[-1].attachments
        assert attachment.content == "# Plan\nship it\n" and attachment.media_id is None
        assert attachment.mime == "text/markdown"
        assert fake.media_puts == []  # nothing went to the media store
        assert "notes.md · text" in screen_text(app)


async def test_pasted_and_dropped_paths_become_chips(
    fake: FakeRuntime, tmp_path: Path, shot: Path
) -> None:
    second = tmp_path / "b.png"
    png(second)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # A terminal pastes a dropped file quoted, backslash-escaped or as a URI.
        app.post_message(events.Paste(f"'{shot}'"))
        await until(pilot, lambda: names(app) == ["shot one.png"], "the quoted path")
        escaped = str(shot).replace(" ", "\\ ")
        app.post_message(events.Paste(f"{escaped} file://{second}"))
        await pilot.pause()
        await until(pilot, lambda: names(app) == ["shot one.png", "b.png"], "two more paths")
        assert app.chat.prompt.text == ""  # nothing was typed
        # A paste that is not (only) existing files stays text.
        app.post_message(events.Paste(f"{tmp_path}/missing.png and words"))
        await pilot.pause()
        assert app.chat.prompt.text == f"{tmp_path}/missing.png and words"
        assert len(bar(app).items) == 2


async def test_chips_are_removed_by_click_and_by_backspace(
    fake: FakeRuntime, tmp_path: Path, shot: Path
) -> None:
    other = tmp_path / "b.png"
    png(other)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.chat.attach_paths([shot, other])
        await pilot.pause()
        assert names(app) == ["shot one.png", "b.png"]
        # The bar and the footer say how to take files off.
        assert "Backspace in an empty input" in str(bar(app).query_one(".hint").render())
        app.chat.prompt.focus()
        await pilot.pause()
        assert footer_offers_removal(app)
        await pilot.click(RemoveButton)  # the first chip's ×
        await until(pilot, lambda: names(app) == ["b.png"], "the click to remove")
        app.chat.prompt.focus()
        await pilot.press("x")
        await pilot.pause()
        assert not footer_offers_removal(app)  # Backspace deletes text now
        await pilot.press("backspace")  # deletes the x: the chip stays
        assert names(app) == ["b.png"] and app.chat.prompt.text == ""
        await pilot.pause()
        assert footer_offers_removal(app)
        await pilot.press("backspace")  # the input is empty: the last chip goes
        await until(pilot, lambda: names(app) == [], "backspace to remove")
        assert not footer_offers_removal(app)
        await send(pilot, "no files")
        await idle(pilot)
        assert fake.requests[-1].attachments == []


async def test_a_file_the_store_refuses_keeps_its_chip_and_the_text(
    fake: FakeRuntime, tmp_path: Path, shot: Path
) -> None:
    liar = tmp_path / "report.pdf"
    png(liar)  # a PNG that says it is a PDF
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.chat.attach_paths([shot, liar])
        await send(pilot, "look at these")
        await idle(pilot)
        assert fake.requests == []  # nothing was sent
        assert app.chat.prompt.text == "look at these"
        assert names(app) == ["shot one.png", "report.pdf"]
        bad = next(c for c in app.chat.query(AttachmentChip) if c.item.name == "report.pdf")
        assert bad.has_class("-error") and "the bytes are image/png" in str(
            bad.query_one(".error").render()
        )
        # Taking it off and sending again: the good file is not uploaded twice.
        await app.chat.attachment_bar.discard(bad.item)
        fake.max_media_bytes = 10  # would refuse a second upload of the PNG
        app.chat.prompt.focus()
        await pilot.press("enter")
        await idle(pilot)
        assert [a.name for a in fake.requests[-1].attachments] == ["shot one.png"]


async def test_too_large_is_shown_on_the_chip(fake: FakeRuntime, shot: Path) -> None:
    fake.max_media_bytes = 100
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.chat.attach_paths([shot])
        await send(pilot, "hi")
        await idle(pilot)
        chip = app.chat.query_one(AttachmentChip)
        assert "the limit is 100" in str(chip.query_one(".error").render())
        assert fake.requests == [] and app.chat.prompt.text == "hi"


async def test_attach_problems_are_told_and_the_command_kept(
    fake: FakeRuntime, tmp_path: Path
) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, f"/attach {tmp_path}/nope.png")
        await pilot.pause()
        assert "No file" in screen_text(app)
        assert app.chat.prompt.text == f"/attach {tmp_path}/nope.png"
        await send(pilot, f"/attach {tmp_path}")
        await pilot.pause()
        assert "is a folder" in screen_text(app)
        assert names(app) == []


async def test_attach_completes_paths(fake: FakeRuntime, tmp_path: Path) -> None:
    root = tmp_path / "files"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.pdf").write_bytes(b"%PDF-1.4\n")
    (root / ".hidden").write_text("x")
    png(root / "shot.png")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        prompt = app.chat.prompt
        prompt.focus()
        prompt.insert(f"/attach {root}/")
        await pilot.pause()
        menu = prompt.menu
        assert menu is not None
        labels = [c.label for c in menu.candidates]
        assert labels == ["docs/", "shot.png"]  # folders first; no hidden files
        await pilot.press("tab")  # the folder: completion goes on inside it
        await pilot.pause()
        assert prompt.text == f"/attach {root}/docs/"
        assert [c.label for c in menu.candidates] == ["a.pdf"]
        await pilot.press("enter")  # a file: accepted and attached at once
        await until(pilot, lambda: names(app) == ["a.pdf"], "the completed file")


def test_completion_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from muxi_cli.tui import files

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "Documents").mkdir()
    (tmp_path / "Downloads").mkdir()
    assert files.complete_path("~/Do") == [
        (f"{tmp_path}/Documents/", True),
        (f"{tmp_path}/Downloads/", True),
    ]


def test_dropped_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from muxi_cli.tui.files import dropped_paths

    spaced = tmp_path / "my file.png"
    spaced.write_bytes(b"x")
    plain = tmp_path / "b.txt"
    plain.write_text("b")
    assert dropped_paths(str(spaced)) == [spaced]  # unquoted, with a space
    assert dropped_paths(f'"{spaced}"\n{plain}\n') == [spaced, plain]
    assert dropped_paths(f"file://{str(spaced).replace(' ', '%20')}") == [spaced]
    monkeypatch.chdir(tmp_path)
    assert dropped_paths("b.txt") is None  # a bare name is a word, not a drop
    assert dropped_paths(f"see {plain}") is None
    assert dropped_paths(f"'{plain}") is None  # an unclosed quote


async def test_media_events_and_transcript_are_shown(fake: FakeRuntime) -> None:
    fake.script(
        Raw(
            "media.processed",
            {
                "media_id": "ab" * 32,
                "name": "scan.pdf",
                "media_type": "application/pdf",
                "derived": ["text", "ocr"],
                "meta": {"pages": 3, "size": 1000},
            },
        ),
        Raw(
            "media.failed",
            {
                "media_id": "cd" * 32,
                "name": "memo.m4a",
                "code": "bad_media",
                "message": "unreadable audio",
            },
        ),
        Raw("transcript.delta", {"text": "turn on ", "final": False}),
        Raw("transcript.delta", {"text": "the lights", "final": True}),
        Text("Done."),
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "read these")
        await idle(pilot)
        shown = screen_text(app)
        assert "📎 scan.pdf · 3 pages · text+ocr" in shown
        assert "📎 memo.m4a: unreadable audio" in shown
        assert "🎤 turn on the lights" in shown
        assert "Done." in shown


async def test_tool_images_are_shown_below_the_call(fake: FakeRuntime) -> None:
    fake.script(
        Tool("screenshot", {}, result="took one", images=[png(size=(32, 16))]), Text("Here.")
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "screenshot please")
        await idle(pilot)
        await until(pilot, lambda: app.chat.query(MediaItem), "the tool's image")
        item = app.chat.query_one(MediaItem)
        assert item.ref.media_type == "image/png" and item.ref.meta == {"width": 32, "height": 16}
        assert "tool.png · PNG" in screen_text(app) and "32x16" in screen_text(app)


async def test_attachments_lists_the_session_files(fake: FakeRuntime, shot: Path) -> None:
    from textual.widgets import DataTable

    from muxi_cli.tui.screens.info import TableScreen

    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/attachments")
        await pilot.pause()
        assert "No attachments yet" in screen_text(app)
        await app.chat.attach_paths([shot])
        await send(pilot, "what is this?")
        await idle(pilot)
        await send(pilot, "/attachments")
        await until(pilot, lambda: isinstance(app.screen, TableScreen), "the table")
        table = app.screen.query_one(DataTable)
        name, kind, size, dimensions, message = table.get_row_at(0)
        assert (name, kind, dimensions, message) == ("shot one.png", "PNG", "640x480", "#1 (you)")
        assert size == f"{shot.stat().st_size / 1024:.1f} KB"


async def test_a_failed_turn_gives_back_the_text_and_its_files(
    fake: FakeRuntime, shot: Path
) -> None:
    from tests.tui.fake_runtime import Fail

    fake.script(Fail("provider_error", "the model is down"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.chat.attach_paths([shot])
        await send(pilot, "what is this?")
        await idle(pilot)
        await until(pilot, lambda: names(app) == ["shot one.png"], "the chip back")
        assert app.chat.prompt.text == "what is this?"
        assert len(fake.media_puts) == 1
        await send(pilot, "what is this?")  # again: the stored file is named, not re-sent
        await idle(pilot)
        assert len(fake.media_puts) == 1
        assert fake.requests[-1].attachments[0].media_id == fake.media_puts[0].id


async def test_an_unexpected_error_while_sending_stays_on_the_chip(
    fake: FakeRuntime, shot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the upload broke")

    monkeypatch.setattr(fake, "put_media", broken)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.chat.attach_paths([shot])
        await send(pilot, "hi")
        await idle(pilot)
        chip = app.chat.query_one(AttachmentChip)
        assert "RuntimeError: the upload broke" in str(chip.query_one(".error").render())
        assert fake.requests == [] and app.chat.prompt.text == "hi"
        assert app.is_running


async def test_an_opened_session_shows_its_files(fake: FakeRuntime) -> None:
    from muxi_cli.protocol.messages import ImagePart, TextPart, ToolResultPart

    photo = await fake.put_media(png(size=(30, 20)), name="photo.png")
    shot = await fake.put_media(png(size=(12, 6)), name="shot.png")
    sid = fake.add_session("pictures", [])
    fake._store(sid, "user", "what is this?", parts=[TextPart("what is this?"), ImagePart(photo)])
    fake._store(
        sid,
        "assistant",
        "",
        run_id="r1",
        tool_calls=[{"id": "c1", "name": "demo__shot", "arguments": {}}],
    )
    fake._store(
        sid,
        "tool",
        "[image: image/png]",
        run_id="r1",
        tool_call_id="c1",
        parts=[ToolResultPart("c1", (ImagePart(shot),))],
    )
    fake._store(sid, "assistant", "A photo.", run_id="r1")
    app = make_app(fake, session_id=sid)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: len(app.chat.query(MediaItem)) == 2, "both files")
        shown = screen_text(app)
        assert "photo.png · PNG" in shown and "30x20" in shown
        assert "shot.png · PNG" in shown and "12x6" in shown


async def test_files_alone_can_be_sent(fake: FakeRuntime, shot: Path) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.chat.prompt.focus()
        await pilot.press("enter")  # an empty input with no files sends nothing
        await pilot.pause()
        assert fake.requests == []
        await app.chat.attach_paths([shot])
        await pilot.press("enter")
        await idle(pilot)
        request = fake.requests[-1]
        assert request.message == "" and [a.name for a in request.attachments] == ["shot one.png"]


async def test_enter_typed_faster_than_the_menu_keeps_what_was_typed(
    fake: FakeRuntime, tmp_path: Path
) -> None:
    """Keys that arrive in one burst (a fast typist, a browser tab, a paste of
    keystrokes) reach Enter before the menu has caught up: Enter must act on
    what is typed, not on a candidate for an earlier prefix."""
    root = tmp_path / "files"
    (root / "test_change").mkdir(parents=True)
    png(root / "test_chat.png")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        prompt = app.chat.prompt
        prompt.focus()
        prompt.insert(f"/attach {root}/test_ch")
        await pilot.pause()
        assert prompt.menu is not None
        assert [c.label for c in prompt.menu.candidates] == ["test_change/", "test_chat.png"]
        for char in "at.png":
            prompt.post_message(events.Key(char, char))
        prompt.post_message(events.Key("enter", None))
        await until(pilot, lambda: names(app) == ["test_chat.png"], "the typed file")
