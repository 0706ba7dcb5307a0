"""Text to speech: the configured speech model, else espeak-ng offline.

:func:`synthesize` returns the audio bytes of ``mp3``, ``wav`` or ``opus`` (Ogg).
Text longer than one API call takes is cut at sentence ends, each piece is
spoken, and the pieces are joined into one file with ffmpeg. Without a speech
model, espeak-ng speaks a WAV that ffmpeg converts; with neither, the error
says how to get one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol

from muxi_cli.errors import ConfigError, MediaError, UsageError
from muxi_cli.media.ffmpeg import run, run_process

log = logging.getLogger(__name__)

#: Output formats and their media types.
FORMATS: dict[str, str] = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg"}
#: Characters per request when the speaker does not say (OpenAI's limit is 4096).
DEFAULT_CHUNK_CHARS = 4000
#: Longest text spoken at all (about two hours of speech).
MAX_TEXT_CHARS = 100_000
ESPEAK_TIMEOUT = 300.0
_ENCODERS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "opus": ["-c:a", "libopus", "-b:a", "32k"],
    "wav": ["-c:a", "pcm_s16le"],
}
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
#: Markdown a voice should not read out: fenced code, links, emphasis, headings.
_CODE_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"(\*\*|__|\*|`|~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6}|>|[-*+]\s)\s*", re.MULTILINE)
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


class Speaker(Protocol):
    """Text to speech through a model (``muxi_cli.llm.audio.APISpeaker``)."""

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes: ...


def speakable(text: str) -> str:
    """A reply as a voice should read it: no code blocks, link targets,
    emphasis marks, heading or quote markers, or terminal control sequences."""
    text = _CONTROL.sub("", text)
    text = _CODE_FENCE.sub(" (code omitted) ", text)
    text = _LINK.sub(r"\1", text)
    text = _HEADING.sub("", text)
    return _MARKS.sub("", text).strip()


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at sentence ends
    (then spaces, then anywhere) so no word is split when it can be helped."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while len(sentence) > limit:  # one sentence longer than a piece: at a space
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if not sentence:
            continue
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


async def synthesize(
    text: str, *, speaker: Speaker | None, voice: str | None, fmt: str = "mp3"
) -> bytes:
    """``text`` spoken as ``fmt`` (mp3, wav, opus): by ``speaker``, else espeak-ng."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown speech format {fmt!r}", hint="use mp3, wav or opus")
    text = speakable(text)
    if not text:
        raise UsageError("there is no text to speak")
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(
            f"the text is too long to speak ({len(text)} characters, at most {MAX_TEXT_CHARS})"
        )
    if speaker is None:
        return await espeak(text, voice=voice, fmt=fmt)
    limit = int(getattr(speaker, "max_chars", DEFAULT_CHUNK_CHARS))
    parts = [await speaker.speak(piece, voice=voice, fmt=fmt) for piece in split_text(text, limit)]
    return parts[0] if len(parts) == 1 else await join(parts, fmt)


async def join(parts: list[bytes], fmt: str) -> bytes:
    """Audio files of one format, one after the other, as one file (ffmpeg's concat)."""
    with tempfile.TemporaryDirectory(prefix="muxi-speech-") as tmp:
        folder = Path(tmp)
        names = []
        for i, part in enumerate(parts):
            name = f"part{i:04d}.{fmt}"
            (folder / name).write_bytes(part)
            names.append(f"file '{name}'\n")
        (folder / "list.txt").write_text("".join(names), encoding="utf-8")
        out = folder / f"speech.{_suffix(fmt)}"
        await run(
            [
                *("-f", "concat", "-safe", "0", "-i", str(folder / "list.txt")),
                *("-c", "copy", "-y", str(out)),
            ]
        )
        return await asyncio.to_thread(out.read_bytes)


def _suffix(fmt: str) -> str:
    return "ogg" if fmt == "opus" else fmt


def espeak_exe() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


@functools.cache
def espeak_voices(exe: str) -> frozenset[str]:
    """The voices espeak-ng knows: languages (``en-us``), files (``gmw/en-US``), names."""
    try:
        listing = subprocess.run(
            [exe, "--voices"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.update(c.lower() for c in (cols[1], cols[3], cols[4]))
    return frozenset(names)


async def espeak(text: str, *, voice: str | None, fmt: str) -> bytes:
    """``text`` spoken by espeak-ng, as ``fmt``."""
    exe = espeak_exe()
    if exe is None:
        raise ConfigError(
            "no speech model is configured (audio.speech) and espeak-ng is not installed",
            "Name one in muxi.yaml (audio:\n  speech: openai/tts-1) or install espeak-ng "
            "(apt-get install espeak-ng; brew install espeak-ng).",
        )
    argv = [exe, "--stdin"]
    if voice:
        # An unknown voice crashes espeak-ng: only pass one it lists (API voice
        # names such as "alloy" mean nothing to it).
        if voice.lower() in espeak_voices(exe):
            argv += ["-v", voice]
        else:
            log.info("espeak-ng has no voice %r; using its default", voice)
    with tempfile.TemporaryDirectory(prefix="muxi-speech-") as tmp:
        wav = Path(tmp) / "speech.wav"
        try:
            status, stderr = await run_process(
                [*argv, "-w", str(wav)], input=text.encode(), timeout=ESPEAK_TIMEOUT
            )
        except TimeoutError as exc:
            raise MediaError(f"espeak-ng took longer than {ESPEAK_TIMEOUT:.0f} s") from exc
        if status != 0 or not wav.exists():
            raise MediaError(f"espeak-ng failed: {stderr.strip() or f'exit status {status}'}")
        if fmt == "wav":
            return await asyncio.to_thread(wav.read_bytes)
        out = wav.with_name(f"speech.{_suffix(fmt)}")
        await run(["-i", str(wav), *_ENCODERS[fmt], "-y", str(out)])
        return await asyncio.to_thread(out.read_bytes)
