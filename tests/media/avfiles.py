"""Real audio and video files for the media tests, made on the spot.

Speech comes from espeak-ng (``espeak-ng -w``); video from the ffmpeg binary
imageio-ffmpeg ships: a test pattern, then a cut to plain red (a scene
change), with the spoken WAV (or nothing) as its sound.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def spoken_wav(folder: Path, text: str = "Hello from muxi. This is a test.") -> bytes:
    path = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, timeout=60)
    return path.read_bytes()


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        timeout=120,
        capture_output=True,
    )


def video(
    folder: Path, *, audio: Path | None, seconds: float = 4.0, name: str = "clip.mp4"
) -> bytes:
    """``seconds`` of video: half test pattern, half red (one scene cut), 320x240 at 10 fps."""
    half = f"{seconds / 2:.2f}"
    out = folder / name
    inputs = [
        *("-f", "lavfi", "-i", f"testsrc=size=320x240:rate=10:duration={half}"),
        *("-f", "lavfi", "-i", f"color=c=red:size=320x240:rate=10:duration={half}"),
    ]
    graph = "[0:v][1:v]concat=n=2:v=1:a=0[v]"
    maps = ["-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if audio is not None:
        # The speech, padded with silence to the video's length.
        inputs += ["-i", str(audio)]
        graph += f";[2:a]apad,atrim=0:{seconds}[a]"
        maps += ["-map", "[a]", "-c:a", "aac"]
    ffmpeg(*inputs, "-filter_complex", graph, *maps, str(out))
    return out.read_bytes()


def silent_wav(path: Path, seconds: float, rate: int = 44100, channels: int = 2) -> bytes:
    """A big plain WAV (no audio content needed: only its size matters)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0" * (int(seconds * rate) * channels * 2))
    return path.read_bytes()


def wav_seconds(data: bytes) -> float:
    import io

    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()
