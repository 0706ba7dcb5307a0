"""Images inline: which terminals get them, the textual-image widget once an
image is shown (forced here: the headless driver gets placeholders), and no
textual-image import before that."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from muxi_cli.tui import graphics
from muxi_cli.tui.widgets.media import MediaItem
from tests.conftest import with_root_on_path
from tests.tui.conftest import SIZE, idle, make_app, ready, send, until
from tests.tui.fake_runtime import FakeRuntime
from tests.tui.test_attachments import png


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"KITTY_WINDOW_ID": "3", "TERM": "xterm-256color"}, "kitty"),
        ({"TERM_PROGRAM": "ghostty"}, "kitty"),
        ({"TERM_PROGRAM": "WezTerm"}, "sixel"),
        ({"TERM": "foot"}, "sixel"),
        ({"KONSOLE_VERSION": "230804"}, "sixel"),
        ({"TERM": "xterm-256color"}, None),
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, None),
        ({"TERM": "xterm-256color", "MUXI_IMAGES": "sixel"}, "sixel"),
        ({"TERM": "xterm-kitty", "MUXI_IMAGES": "off"}, None),
    ],
)
def test_graphics_are_guessed_from_the_environment(
    env: dict[str, str], expected: str | None
) -> None:
    assert graphics.detect(env) == expected


async def test_an_image_is_drawn_where_graphics_work(
    fake: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUXI_IMAGES", "sixel")
    ref = await fake.put_media(png(size=(800, 600)), name="big.png")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        from muxi_cli.tui.model import UserRecord

        await app.chat.transcript.add(UserRecord("look", media=(ref,)))
        await until(pilot, lambda: app.chat.query_one(MediaItem).image_shown, "the image")
        item = app.chat.query_one(MediaItem)
        image = item.query_one(".image")
        assert type(image).__module__.startswith("textual_image")
        assert fake.media_gets == [ref.id]  # fetched once, through the runtime
        # Shrunk to what the screen shows (at most MAX_COLUMNS cells wide).
        assert image.image.width <= graphics.MAX_COLUMNS * 20


async def test_headless_gets_placeholders_and_fetches_nothing(fake: FakeRuntime) -> None:
    ref = await fake.put_media(png(), name="dot.png")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        from muxi_cli.tui.model import UserRecord

        await app.chat.transcript.add(UserRecord("look", media=(ref,)))
        await pilot.pause()
        await send(pilot, "hi")
        await idle(pilot)
        assert not app.chat.query_one(MediaItem).image_shown
        assert fake.media_gets == []


def test_textual_image_is_not_imported_until_an_image_is_shown() -> None:
    """Start the app (a file attached and sent, shown as a placeholder) in a fresh
    process: neither textual-image nor Pillow is loaded."""
    code = textwrap.dedent(
        """
        import asyncio, sys, tempfile, pathlib
        from tests.tui.fake_runtime import FakeRuntime
        from tests.tui.conftest import make_app, ready, send, idle

        async def main():
            fake = FakeRuntime()
            folder = pathlib.Path(tempfile.mkdtemp())
            (folder / "notes.txt").write_text("hello")
            app = make_app(fake)
            async with app.run_test(size=(100, 40)) as pilot:
                await ready(pilot)
                await send(pilot, "/attach " + str(folder / "notes.txt"))
                await send(pilot, "hi")
                await idle(pilot)
            print(sorted(m for m in ("textual_image", "PIL") if m in sys.modules))

        asyncio.run(main())
        """
    )
    env = dict(os.environ, PYTHONPATH=with_root_on_path(os.environ.get("PYTHONPATH")))
    env.pop("MUXI_IMAGES", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _in_a_terminal(term: str, tmp_path: Path) -> bytes:
    """Everything the chat app writes to a pseudo-terminal of type ``term``."""
    import pty
    import select
    import time

    from tests.procs import stopping

    master, slave = pty.openpty()
    env = dict(os.environ, TERM=term, PYTHONPATH=with_root_on_path(os.environ.get("PYTHONPATH")))
    for name in (
        "MUXI_IMAGES",
        "TMUX",
        "STY",
        "TERM_PROGRAM",
        "KITTY_WINDOW_ID",
        "KONSOLE_VERSION",
        "WT_SESSION",
    ):
        env.pop(name, None)
    out = b""
    with stopping(
        subprocess.Popen(
            [sys.executable, "-m", "tests.tui.pty_image_app"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=str(Path(__file__).resolve().parents[2]),
            start_new_session=True,
        )
    ) as proc:
        os.close(slave)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
    os.close(master)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("term", "marker", "shown"),
    [
        ("foot", b"\x1bP", "True sixel"),
        ("xterm-kitty", b"\x1b_G", "True kitty"),
        ("xterm-256color", None, "False None"),
    ],
)
def test_a_real_terminal_gets_graphics_or_the_placeholder(
    term: str, marker: bytes | None, shown: str, tmp_path: Path
) -> None:
    out = _in_a_terminal(term, tmp_path)
    assert f"SHOWN={shown}".encode() in out, out[-500:]
    if marker is not None:
        assert marker in out  # a Sixel DCS / a Kitty graphics APC reached the terminal
    else:
        assert b"\x1bP" not in out and b"\x1b_G" not in out
    # textual-image asked the terminal nothing (Textual owns its answers).
    assert b"\x1b[c" not in out and b"a=q" not in out and b"\x1b[16t" not in out
