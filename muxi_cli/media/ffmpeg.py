"""Running the ffmpeg binary that imageio-ffmpeg ships, and reading what it prints.

Every run has a timeout and is killed when it expires or when the awaiting
task is cancelled: a stopped turn never leaves an ffmpeg process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from muxi_cli.errors import MediaError

#: Seconds one ffmpeg run may take (a long video's scene detection is the slowest).
FFMPEG_TIMEOUT = 300.0
#: Seconds reading a file's header may take.
PROBE_TIMEOUT = 30.0
#: The lines ffmpeg prints for a file it cannot read.
_UNREADABLE = (
    "Invalid data found",
    "moov atom not found",
    "Error opening input",
    "could not find codec parameters",
    "Invalid frame dimensions",
)
_DURATION = re.compile(r"Duration:\s*(\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: (Video|Audio): (.*)$", re.MULTILINE)
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)\b")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_PTS_TIME = re.compile(r"pts_time:\s*(-?[\d.]+)")


def ffmpeg_exe() -> str:
    """The path of the bundled ffmpeg binary."""
    import imageio_ffmpeg  # deferred: only media work needs it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What ``ffmpeg -i`` says of a file."""

    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_video: bool = False
    has_audio: bool = False


def parse_info(text: str) -> MediaInfo:
    """The duration and first video/audio streams from ``ffmpeg -i``'s stderr."""
    duration = None
    found = _DURATION.search(text)
    if found:
        h, m, s = found.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    width = height = None
    fps = None
    has_video = has_audio = False
    for kind, rest in _STREAM.findall(text):
        if kind == "Audio":
            has_audio = True
            continue
        if has_video or "attached pic" in rest:  # cover art in an audio file is no video
            continue
        has_video = True
        size = _SIZE.search(rest)
        if size:
            width, height = int(size.group(1)), int(size.group(2))
        rate = _FPS.search(rest)
        if rate:
            fps = float(rate.group(1))
    rotation = _ROTATION.search(text)
    if rotation and width and height and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width  # a phone video filmed upright
    return MediaInfo(duration, width, height, fps, has_video, has_audio)


def unreadable(stderr: str) -> str | None:
    """ffmpeg's reason for not reading a file, when that is what it printed."""
    for line in stderr.splitlines():
        if any(marker in line for marker in _UNREADABLE):
            return line.split("] ", 1)[-1].strip()
    return None


def scene_times(stderr: str) -> list[float]:
    """The ``pts_time`` of every frame ``showinfo`` printed."""
    return [float(t) for t in _PTS_TIME.findall(stderr)]


def info_sync(path: Path) -> tuple[MediaInfo, str]:
    """``ffmpeg -i PATH`` (no output: it only reads the header): info and stderr."""
    try:
        done = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        raise MediaError(f"reading the file took longer than {PROBE_TIMEOUT:.0f} s") from exc
    stderr = done.stderr.decode("utf-8", "replace")
    return parse_info(stderr), stderr


async def run_process(
    argv: list[str], *, timeout: float, input: bytes | None = None
) -> tuple[int, str]:
    """Run a program to its end: exit status and stderr. Cancelled or timed out,
    the process is killed and reaped before this returns (``TimeoutError``)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL if input is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            _out, err = await proc.communicate(input)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        # Reap it even if this task is cancelled again meanwhile (no zombie, no orphan).
        await asyncio.shield(proc.wait())
        raise
    return proc.returncode or 0, err.decode("utf-8", "replace")


async def run(args: list[str], *, timeout: float = FFMPEG_TIMEOUT, check: bool = True) -> str:
    """Run ffmpeg with ``args``; its stderr. A failure is a :class:`MediaError`
    (``check=False``: the stderr whatever the exit status)."""
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", *args]
    try:
        status, stderr = await run_process(argv, timeout=timeout)
    except TimeoutError as exc:
        raise MediaError(f"ffmpeg took longer than {timeout:.0f} s on this file") from exc
    if check and status != 0:
        reason = unreadable(stderr) or (stderr.strip().splitlines() or ["no message"])[-1]
        raise MediaError(f"ffmpeg could not process the file: {reason}")
    return stderr
