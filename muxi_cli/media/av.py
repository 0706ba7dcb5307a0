"""Audio and video: what a file holds (:func:`probe`), its speech as text and a
video's frames (:func:`extract_av`).

A video becomes a few JPEG frames (the first one, then scene changes, topped
up at a fixed rate when the video has too few cuts; never more than
``max_frames``) plus its audio track's transcript. Everything derived is kept
in the :class:`~muxi_cli.media.types.DerivedCache` under the media's id
(``transcript``, ``frames``, ``frame-0001.jpg``, ...), so a file is never
processed twice. ffmpeg is the binary imageio-ffmpeg ships (:mod:`.ffmpeg`).
"""

from __future__ import annotations

import asyncio
import json
import struct
import tempfile
from pathlib import Path

from muxi_cli.errors import ConfigError, MediaError, MediaTooLargeError
from muxi_cli.media.ffmpeg import (
    PROBE_TIMEOUT,
    info_sync,
    parse_info,
    run,
    scene_times,
    unreadable,
)
from muxi_cli.media.types import DerivedCache, Extracted, Meta, Transcriber

#: Frames per second sampled when a video has fewer scene changes than that.
DEFAULT_FPS = 0.5
DEFAULT_MAX_FRAMES = 8
#: How different two frames must be (0-1) to count as a scene change.
SCENE_THRESHOLD = 0.3
#: Longer videos skip scene detection (it decodes every frame): fixed rate only.
SCENE_MAX_SECONDS = 600.0
#: Longest edge of a sampled frame (pixels); the model's own limit applies later.
FRAME_LONG_EDGE = 768
#: Scene changes closer than this (seconds) to a frame already taken add nothing.
MIN_FRAME_GAP = 0.5
TRANSCRIPT_KEY = "transcript"
FRAMES_KEY = "frames"


def frame_key(index: int) -> str:
    return f"frame-{index:04d}.jpg"


# -- probe -----------------------------------------------------------------------


def probe(data: bytes, media_type: str) -> Meta:
    """``duration`` (s); for video also ``width``, ``height``, ``fps`` and
    ``audio`` (1 when it has an audio track). MediaError if unreadable."""
    _check_bytes(data, media_type)
    with tempfile.TemporaryDirectory(prefix="muxi-av-") as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(data)
        _info, stderr = info_sync(path)
    return _meta(stderr, media_type)


async def probe_async(data: bytes, media_type: str) -> Meta:
    """:func:`probe` for async callers: a cancel kills ffmpeg at once."""
    _check_bytes(data, media_type)
    with tempfile.TemporaryDirectory(prefix="muxi-av-") as tmp:
        path = await _write(Path(tmp), data)
        stderr = await run(["-i", str(path)], check=False, timeout=PROBE_TIMEOUT)
    return _meta(stderr, media_type)


def _check_bytes(data: bytes, media_type: str) -> None:
    if not data:
        raise MediaError(f"the {_kind(media_type)} file is empty")
    _check_riff(data)


def _kind(media_type: str) -> str:
    return "video" if media_type.startswith("video/") else "audio"


def _meta(stderr: str, media_type: str) -> Meta:
    """What ``ffmpeg -i`` printed, as media metadata (or why the file is unreadable)."""
    info = parse_info(stderr)
    video = media_type.startswith("video/")
    kind = _kind(media_type)
    reason = unreadable(stderr)
    if reason or not (info.has_audio or info.has_video):
        raise MediaError(
            f"not a readable {kind} file ({media_type}): {reason or 'no audio or video stream'}",
            hint="the file may be truncated or damaged; export it again",
        )
    if video and not info.has_video:
        raise MediaError(f"the video file ({media_type}) has no video stream")
    if not video and not info.has_audio:
        raise MediaError(f"the audio file ({media_type}) has no audio stream")
    meta: Meta = {}
    if info.duration is not None:
        meta["duration"] = round(info.duration, 3)
    if video:
        if info.width and info.height:
            meta["width"], meta["height"] = info.width, info.height
        if info.fps:
            meta["fps"] = info.fps
        meta["audio"] = int(info.has_audio)
    return meta


def _check_riff(data: bytes) -> None:
    """A WAV whose header promises more bytes than the file has was cut off
    (ffmpeg would read what is there without complaint)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    (declared,) = struct.unpack("<I", data[4:8])
    # 0 or a huge placeholder (0xFFFFFFFF, espeak-ng's 0x7FFFF024): written by a
    # program that streamed and never knew the size.
    if 0 < declared < 0x7FFF0000 and declared + 8 > len(data):
        raise MediaError(
            f"the WAV file is truncated: its header says {declared + 8} bytes, it has {len(data)}",
            hint="the recording was cut off; export it again",
        )


# -- transcripts --------------------------------------------------------------------


async def transcribe(
    data: bytes,
    media_type: str,
    transcriber: Transcriber,
    name: str | None = None,
) -> str:
    """Speech to text for any audio or video file: checked readable first (a
    MediaError before any request), sent as is when the API takes the format
    (and size), else re-encoded first (a video: its audio track)."""
    from muxi_cli.llm.audio import API_AUDIO_TYPES, API_MAX_AUDIO_BYTES  # deferred: llm code

    await probe_async(data, media_type)
    sendable = (
        not media_type.startswith("video/")
        and media_type in API_AUDIO_TYPES
        and len(data) <= API_MAX_AUDIO_BYTES
    )
    if not sendable:
        with tempfile.TemporaryDirectory(prefix="muxi-av-") as tmp:
            path = await _write(Path(tmp), data)
            data, media_type = await _speech_track(path), "audio/mpeg"
        if len(data) > API_MAX_AUDIO_BYTES:
            raise MediaTooLargeError(
                "the audio is too long to transcribe in one request "
                f"({len(data)} bytes after compression, the API takes {API_MAX_AUDIO_BYTES})",
                hint="split the recording into parts of about an hour",
            )
    return await transcriber.transcribe(data, media_type, name)


async def _speech_track(path: Path) -> bytes:
    """The first audio track as small mono MP3 (speech models hear 16 kHz anyway)."""
    out = path.with_name("speech.mp3")
    await run(
        [
            *("-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000"),
            *("-c:a", "libmp3lame", "-b:a", "32k", "-y", str(out)),
        ]
    )
    return await asyncio.to_thread(out.read_bytes)


async def _write(folder: Path, data: bytes) -> Path:
    path = folder / "input"
    await asyncio.to_thread(path.write_bytes, data)
    return path


# -- extraction ---------------------------------------------------------------------


async def extract_av(
    data: bytes,
    media_type: str,
    *,
    media_id: str | None,
    cache: DerivedCache | None,
    transcriber: Transcriber | None,
    fps: float = DEFAULT_FPS,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> Extracted:
    """Audio: its transcript. Video: sampled frames (JPEG) and its audio's
    transcript (when it has audio and a transcriber is given). Cached under
    ``media_id``. Audio without a transcriber is a ``ConfigError``."""
    store = _Cache(cache, media_id)
    video = media_type.startswith("video/")
    if not video:
        text = store.text(TRANSCRIPT_KEY)
        if text is None:
            if transcriber is None:
                from muxi_cli.llm.audio import TRANSCRIBE_HINT  # deferred: llm code

                raise ConfigError(
                    "audio needs a speech-to-text model (audio.transcribe)", TRANSCRIBE_HINT
                )
            text = await transcribe(data, media_type, transcriber)
            store.put(TRANSCRIPT_KEY, text.encode())
        return Extracted(text=text, derived=("transcript",))

    frames = store.frames(fps, max_frames)
    text = store.text(TRANSCRIPT_KEY)
    if frames is None or (text is None and transcriber is not None):
        with tempfile.TemporaryDirectory(prefix="muxi-av-") as tmp:
            path = await _write(Path(tmp), data)
            info = parse_info(await run(["-i", str(path)], check=False))
            if not info.has_video:
                raise MediaError(f"the video file ({media_type}) has no readable video stream")
            if frames is None:
                frames = await _sample_frames(path, info.duration or 0.0, fps, max_frames)
                store.put_frames(frames, fps, max_frames)
            if text is None and transcriber is not None:
                text = ""  # no audio track: nothing to hear (cached, not asked again)
                if info.has_audio:
                    mp3 = await _speech_track(path)
                    text = await transcriber.transcribe(mp3, "audio/mpeg", None)
                store.put(TRANSCRIPT_KEY, text.encode())
    derived = ("frames", "transcript") if text else ("frames",)
    return Extracted(
        text=text or "",
        images=tuple((f, "image/jpeg") for f in frames),
        derived=derived,
    )


class _Cache:
    """The derived cache of one media file (a no-op without a cache or an id)."""

    def __init__(self, cache: DerivedCache | None, media_id: str | None) -> None:
        self.cache = cache if media_id else None
        self.media_id = media_id or ""

    def get(self, key: str) -> bytes | None:
        return self.cache.get_derived(self.media_id, key) if self.cache is not None else None

    def put(self, key: str, data: bytes) -> None:
        if self.cache is not None:
            self.cache.put_derived(self.media_id, key, data)

    def text(self, key: str) -> str | None:
        raw = self.get(key)
        return raw.decode("utf-8", "replace") if raw is not None else None

    def frames(self, fps: float, max_frames: int) -> list[bytes] | None:
        """The cached frames, if sampled with these settings."""
        raw = self.get(FRAMES_KEY)
        if raw is None:
            return None
        try:
            index = json.loads(raw)
        except ValueError:
            return None
        if index.get("fps") != fps or index.get("max_frames") != max_frames:
            return None
        frames = [self.get(frame_key(i + 1)) for i in range(int(index.get("count", 0)))]
        return [f for f in frames if f is not None] if all(frames) else None

    def put_frames(self, frames: list[bytes], fps: float, max_frames: int) -> None:
        for i, frame in enumerate(frames):
            self.put(frame_key(i + 1), frame)
        # The index last: a crash midway leaves no index pointing at missing frames.
        index = {"fps": fps, "max_frames": max_frames, "count": len(frames)}
        self.put(FRAMES_KEY, json.dumps(index).encode())


async def _sample_frames(path: Path, duration: float, fps: float, max_frames: int) -> list[bytes]:
    cuts: list[float] = []
    if 0 < duration <= SCENE_MAX_SECONDS:
        # Scene scores on a thumbnail-sized copy: the same cuts, far less work.
        stderr = await run(
            [
                *("-i", str(path), "-map", "0:v:0", "-an", "-f", "null", "-vf"),
                f"scale=160:-2,select=gt(scene\\,{SCENE_THRESHOLD}),showinfo",
                "-",
            ]
        )
        cuts = scene_times(stderr)
    times = pick_times(duration, cuts, fps, max_frames)
    # One ffmpeg run: an input seeked to each time, one JPEG out of each.
    args: list[str] = []
    for t in times:
        args += ["-ss", f"{t:.3f}", "-i", str(path)]
    scale = (
        f"scale=w='min({FRAME_LONG_EDGE},iw)':h='min({FRAME_LONG_EDGE},ih)'"
        ":force_original_aspect_ratio=decrease"
    )
    outs = [path.with_name(frame_key(i + 1)) for i in range(len(times))]
    for i, out in enumerate(outs):
        args += ["-map", f"{i}:v:0", "-frames:v", "1", "-vf", scale, "-q:v", "4", "-y", str(out)]
    await run(args)
    frames = [
        await asyncio.to_thread(o.read_bytes) for o in outs if o.exists() and o.stat().st_size
    ]
    if not frames:
        raise MediaError("no frame could be read from the video")
    return frames


def pick_times(duration: float, cuts: list[float], fps: float, max_frames: int) -> list[float]:
    """When to take frames: the start and each scene change (preferred), evenly
    thinned to ``max_frames``, or topped up at ``fps`` when there are fewer."""
    end = max(duration - 0.05, 0.0)  # a seek to the very end finds no frame
    chosen = [0.0]
    for cut in sorted(cuts):
        if 0 < cut <= end and cut - chosen[-1] >= MIN_FRAME_GAP:
            chosen.append(cut)
    if len(chosen) > max_frames:
        last = len(chosen) - 1
        picks = (
            {round(i * last / (max_frames - 1)) for i in range(max_frames)}
            if max_frames > 1
            else {0}
        )
        return [chosen[i] for i in sorted(picks)]
    wanted = max(1, min(max_frames, int(duration * fps) + 1))
    if len(chosen) >= wanted:
        return chosen
    # Top up at a fixed rate: one frame in the middle of each even slot of the
    # video that no frame taken so far falls in.
    width = duration / wanted
    for slot in range(wanted):
        lo, hi = slot * width, (slot + 1) * width
        if not any(lo <= t < hi for t in chosen):
            chosen.append(min((slot + 0.5) * width, end))
    return sorted(chosen)
