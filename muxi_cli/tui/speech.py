"""``/speak``: replies read aloud through ``Runtime.speak`` and a player found
on this machine, or saved to a file when there is none (no Textual here).

Playback runs as a child process the app waits for asynchronously: the UI
never blocks, and a newer reply (or ``/speak`` off, or quitting) stops the
one playing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from muxi_cli import paths

if TYPE_CHECKING:
    from muxi_cli.runtime.base import Runtime

log = logging.getLogger(__name__)

#: Longer replies are cut here: speech is for listening along, not for audiobooks.
MAX_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Player:
    name: str
    path: str
    args: tuple[str, ...]
    #: What the player reads everywhere (aplay and paplay: WAV only).
    fmt: str

    def command(self, file: Path) -> list[str]:
        return [self.path, *self.args, str(file)]


#: In order of preference.
PLAYERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "quiet"), "mp3"),
    ("afplay", (), "mp3"),
    ("aplay", ("-q",), "wav"),
    ("paplay", (), "wav"),
    ("mpv", ("--no-video", "--really-quiet"), "mp3"),
)


def find_player() -> Player | None:
    for name, args, fmt in PLAYERS:
        found = shutil.which(name)
        if found:
            return Player(name, found, args, fmt)
    return None


def speakable(reply: str) -> str:
    """What is sent to ``Runtime.speak``: the reply, cut at a word near
    :data:`MAX_CHARS` (the runtime itself leaves out code blocks and Markdown marks)."""
    text = reply.strip()
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS]
    space = cut.rfind(" ")
    return cut[:space] if space > MAX_CHARS // 2 else cut


def speech_dir() -> Path:
    return paths.data_dir() / "speech"


class Speaker:
    """Speaks replies one at a time."""

    def __init__(self, notice: Callable[[str], None]) -> None:
        self.notice = notice
        self._process: asyncio.subprocess.Process | None = None

    async def speak(self, runtime: Runtime, text: str) -> Path | None:
        """Synthesize ``text`` and play it; returns the file when it was saved instead."""
        words = speakable(text)
        if not words:
            return None
        player = find_player()
        fmt = player.fmt if player is not None else "mp3"
        audio = await runtime.speak(words, fmt=fmt)
        folder = speech_dir()
        name = f"reply-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6:06d}.{fmt}"
        file = folder / name
        await asyncio.to_thread(_write, file, audio)
        if player is None:
            self.notice(
                f"No audio player found (ffplay, afplay, aplay, paplay or mpv); "
                f"the reply was saved to {file}"
            )
            return file
        await self.stop()
        try:
            await self._play(player, file)
        finally:
            with contextlib.suppress(OSError):
                file.unlink()
        return None

    async def _play(self, player: Player, file: Path) -> None:
        process = await asyncio.create_subprocess_exec(
            *player.command(file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._process = process
        try:
            code = await process.wait()
        except asyncio.CancelledError:  # a newer reply, /speak off or quitting
            await _end(process)
            raise
        finally:
            if self._process is process:
                self._process = None
        if code not in (0, -15):  # -15: stopped by us
            log.warning("%s exited with %s", player.name, code)

    @property
    def playing(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def stop(self) -> None:
        """Stop the reply being played (the process this app started), if any."""
        process, self._process = self._process, None
        if process is not None:
            await _end(process)


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 2.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _write(file: Path, data: bytes) -> None:
    paths.ensure_dir(file.parent)
    file.write_bytes(data)
