"""/speak: replies go through Runtime.speak and a player found on PATH (a
fake one here), or into a file when there is none; the status bar says so."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from muxi_cli import paths
from muxi_cli.tui.speech import speakable
from tests.tui.conftest import SIZE, idle, make_app, ready, screen_text, send, until
from tests.tui.fake_runtime import FakeRuntime, Text


def fake_player(folder: Path, name: str, *, hold: bool = False) -> Path:
    """A player that notes its arguments and the file's first bytes (and, with
    ``hold``, keeps playing until it is stopped)."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    script = folder / name
    sleep = shutil.which("sleep") or "/bin/sleep"
    script.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do echo "$a" >> "{log}"; done\n'
        f'last=""; for a in "$@"; do last="$a"; done\n'
        f'[ -f "$last" ] && echo "file-existed" >> "{log}"\n'
        + (f"exec {sleep} 30\n" if hold else "")
    )
    script.chmod(0o755)
    return log


@pytest.fixture
def only_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only a folder of this test's own (no real player is found)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


async def test_speak_toggles_and_plays_each_reply(fake: FakeRuntime, only_path: Path) -> None:
    log = fake_player(only_path, "aplay")
    fake.script(Text("**Hello** there.\n\n```py\nprint(1)\n```\n"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/speak")
        await pilot.pause()
        assert app.status.speaking
        assert "🔊 speak" in str(app.chat.status_bar.render())
        assert "played with aplay" in screen_text(app)
        await send(pilot, "hi")
        await idle(pilot)
        await until(pilot, lambda: log.exists() and "file-existed" in log.read_text(), "playback")
        # The reply as it is (the runtime leaves out code and Markdown); aplay takes WAV.
        assert fake.spoken == [("**Hello** there.\n\n```py\nprint(1)\n```", "wav")]
        args = log.read_text().splitlines()
        assert args[0] == "-q" and args[1].endswith(".wav")
        assert Path(args[1]).parent == paths.data_dir() / "speech"
        await until(pilot, lambda: not Path(args[1]).exists(), "the played file removed")
        await send(pilot, "/speak off")
        await pilot.pause()
        assert not app.status.speaking
        assert "🔊" not in str(app.chat.status_bar.render())
        await send(pilot, "again")
        await idle(pilot)
        assert len(fake.spoken) == 1  # off: not spoken


async def test_without_a_player_the_reply_is_saved(fake: FakeRuntime, only_path: Path) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/speak on")
        await pilot.pause()
        assert "no audio player found" in screen_text(app)
        await send(pilot, "hi")
        await idle(pilot)
        folder = paths.data_dir() / "speech"
        await until(pilot, lambda: folder.exists() and any(folder.iterdir()), "the saved file")
        [saved] = list(folder.iterdir())
        assert saved.suffix == ".mp3" and saved.read_bytes().startswith(b"RIFF")
        assert fake.spoken == [("You said: hi", "mp3")]
        await until(
            pilot,
            lambda: any(str(saved) in n.message for n in app._notifications),
            "the notice naming the file",
        )


async def test_speak_off_and_quitting_stop_the_player(fake: FakeRuntime, only_path: Path) -> None:
    log = fake_player(only_path, "ffplay", hold=True)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/speak")
        await send(pilot, "hi")
        await idle(pilot)
        await until(pilot, lambda: log.exists() and "file-existed" in log.read_text(), "playback")
        speaker = app.chat._speaker
        assert speaker is not None and speaker.playing
        assert log.read_text().splitlines()[:4] == ["-nodisp", "-autoexit", "-loglevel", "quiet"]
        await send(pilot, "/speak off")
        await until(pilot, lambda: not speaker.playing, "the player stopped")
        await send(pilot, "/speak on")
        await send(pilot, "more")
        await idle(pilot)
        await until(pilot, lambda: speaker.playing, "playing again")
        first = speaker._process
        assert first is not None
        await send(pilot, "third")  # a newer reply stops the one playing
        await idle(pilot)
        await until(pilot, lambda: first.returncode is not None, "the older player stopped")
        await until(pilot, lambda: speaker._process not in (None, first), "the newer one playing")
        process = speaker._process
        assert process is not None
    # The app has quit: the player it started is gone.
    assert process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)


def test_long_replies_are_cut_at_a_word() -> None:
    assert speakable("  short  ") == "short"
    spoken = speakable("word " * 5000)
    assert len(spoken) <= 4000 and spoken.endswith("word") and not spoken.endswith(" ")
