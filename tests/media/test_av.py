"""Audio and video: probe, transcripts through the provider's audio API (the fake
model server), scene-change frames, the derived cache, bad files, cancellation."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image

from muxi_cli.config.loader import load_formation
from muxi_cli.errors import AuthError, ConfigError, MediaError
from muxi_cli.llm.audio import APITranscriber, maybe_transcriber, transcriber_for
from muxi_cli.llm.registry import ProviderRegistry
from muxi_cli.media import av, ffmpeg
from tests.fakellm import Error, FakeLLM
from tests.media.avfiles import ffmpeg as run_ffmpeg
from tests.media.avfiles import silent_wav, spoken_wav, video

AUDIO_CONFIG = "audio:\n  transcribe: openai/whisper-1\n  language: en\n"


class Cache:
    """A DerivedCache in memory, counting what it is asked."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], bytes] = {}

    def get_derived(self, media_id: str, key: str) -> bytes | None:
        return self.data.get((media_id, key))

    def put_derived(self, media_id: str, key: str, data: bytes) -> None:
        self.data[(media_id, key)] = data

    def keys(self, media_id: str) -> set[str]:
        return {k for m, k in self.data if m == media_id}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("av")
    wav = spoken_wav(folder)
    return {
        "wav": wav,
        "video": video(folder, audio=folder / "speech.wav"),
        "mute": video(folder, audio=None, name="mute.mp4"),
    }


def transcriber(
    fake: FakeLLM, tmp_path: Path, extra: str = AUDIO_CONFIG, provider: str = "openai"
) -> APITranscriber:
    path = fake.write_formation(tmp_path, provider=provider, extra=extra)
    formation = load_formation(path).formation
    return transcriber_for(formation, ProviderRegistry(formation))


@pytest.fixture
def ffmpeg_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every ffmpeg start (each one looks the binary up first)."""
    runs: list[int] = []
    real = ffmpeg.ffmpeg_exe

    def counting() -> str:
        runs.append(1)
        return real()

    monkeypatch.setattr(ffmpeg, "ffmpeg_exe", counting)
    return runs


# -- probe ---------------------------------------------------------------------------


def test_probe_reads_a_spoken_wav_and_a_video(files: dict[str, bytes]) -> None:
    meta = av.probe(files["wav"], "audio/wav")
    assert set(meta) == {"duration"} and 1.0 < meta["duration"] < 5.0
    meta = av.probe(files["video"], "video/mp4")
    assert meta["width"] == 320 and meta["height"] == 240
    assert meta["fps"] == 10 and meta["audio"] == 1
    assert 3.5 < meta["duration"] < 4.5
    assert av.probe(files["mute"], "video/mp4")["audio"] == 0


@pytest.mark.parametrize(
    ("make", "media_type", "words"),
    [
        (lambda f: os.urandom(4000), "audio/mpeg", "not a readable audio file"),
        (lambda f: f["video"][: len(f["video"]) // 3], "video/mp4", "not a readable video file"),
        (lambda f: f["wav"][:5000], "audio/wav", "truncated"),
        (lambda f: b"", "audio/wav", "empty"),
        (lambda f: f["wav"], "video/mp4", "no video stream"),
    ],
    ids=["garbage", "truncated-mp4", "truncated-wav", "empty", "audio-as-video"],
)
def test_bad_files_are_media_errors(
    files: dict[str, bytes], make: Any, media_type: str, words: str
) -> None:
    with pytest.raises(MediaError, match=words) as info:
        av.probe(make(files), media_type)
    assert info.value.http_status == 422 and info.value.exit_code == 2


def test_parse_info_swaps_the_size_of_an_upright_phone_video() -> None:
    text = (
        "  Duration: 00:01:02.50, start: 0.000000, bitrate: 900 kb/s\n"
        "  Stream #0:0[0x1](und): Video: h264 (High), yuv420p, 1920x1080, 30 fps, 30 tbr\n"
        "      displaymatrix: rotation of -90.00 degrees\n"
        "  Stream #0:1[0x2](und): Audio: aac (LC), 48000 Hz, stereo, fltp\n"
    )
    info = ffmpeg.parse_info(text)
    assert (info.width, info.height, info.fps, info.duration) == (1080, 1920, 30.0, 62.5)
    assert info.has_audio and info.has_video


# -- transcripts -----------------------------------------------------------------------


async def test_audio_is_transcribed_through_the_provider_and_cached(
    fake_llm: FakeLLM, tmp_path: Path, files: dict[str, bytes], ffmpeg_runs: list[int]
) -> None:
    fake_llm.transcript = "hello from muxi this is a test"
    cache = Cache()
    tr = transcriber(fake_llm, tmp_path)
    out = await av.extract_av(files["wav"], "audio/wav", media_id="m1", cache=cache, transcriber=tr)
    assert out.text == "hello from muxi this is a test"
    assert out.derived == ("transcript",) and out.images == ()
    # Exactly what reached the provider: one multipart request with the WAV as is.
    (req,) = fake_llm.audio_requests
    assert req["path"] == "/v1/audio/transcriptions"
    assert req["content_type"].startswith("multipart/form-data; boundary=")
    assert req["headers"]["authorization"] == "Bearer sk-fake"
    assert req["fields"] == {"model": "whisper-1", "response_format": "json", "language": "en"}
    sent = req["files"]["file"]
    assert sent["filename"].endswith(".wav") and sent["content_type"] == "audio/wav"
    assert sent["data"] == files["wav"]
    assert cache.get_derived("m1", "transcript") == out.text.encode()
    # Asked again: the cache answers; no ffmpeg, no request.
    before = len(ffmpeg_runs)
    again = await av.extract_av(
        files["wav"], "audio/wav", media_id="m1", cache=cache, transcriber=tr
    )
    assert again == out
    assert len(ffmpeg_runs) == before and len(fake_llm.audio_requests) == 1


async def test_a_format_the_api_does_not_take_is_sent_as_mp3(
    fake_llm: FakeLLM, tmp_path: Path, files: dict[str, bytes]
) -> None:
    (tmp_path / "in.wav").write_bytes(files["wav"])
    run_ffmpeg("-i", str(tmp_path / "in.wav"), "-f", "aiff", str(tmp_path / "memo.aiff"))
    aiff = (tmp_path / "memo.aiff").read_bytes()
    text = await av.transcribe(aiff, "audio/aiff", transcriber(fake_llm, tmp_path), "memo.aiff")
    assert text == fake_llm.transcript
    sent = fake_llm.audio_requests[-1]["files"]["file"]
    assert sent["filename"] == "memo.mp3" and sent["content_type"] == "audio/mpeg"
    assert sent["data"][:3] == b"ID3" or sent["data"][:2] == b"\xff\xfb"


async def test_garbage_audio_never_reaches_the_provider(fake_llm: FakeLLM, tmp_path: Path) -> None:
    with pytest.raises(MediaError):
        await av.transcribe(os.urandom(5000), "audio/mpeg", transcriber(fake_llm, tmp_path))
    assert fake_llm.audio_requests == []


async def test_audio_without_a_transcription_model_names_the_setting(
    fake_llm: FakeLLM, tmp_path: Path, files: dict[str, bytes]
) -> None:
    formation = load_formation(fake_llm.write_formation(tmp_path)).formation
    assert maybe_transcriber(formation, ProviderRegistry(formation)) is None
    with pytest.raises(ConfigError, match=r"audio\.transcribe") as info:
        transcriber_for(formation, ProviderRegistry(formation))
    assert "whisper-1" in (info.value.hint or "")
    with pytest.raises(ConfigError, match=r"audio\.transcribe"):
        await av.extract_av(files["wav"], "audio/wav", media_id=None, cache=None, transcriber=None)


def test_an_anthropic_model_cannot_transcribe(fake_llm: FakeLLM, tmp_path: Path) -> None:
    extra = "audio:\n  transcribe: anthropic/claude-sonnet-4-5\n"
    with pytest.raises(ConfigError, match="not served over an OpenAI-compatible API"):
        transcriber(fake_llm, tmp_path, extra, provider="anthropic")


async def test_a_provider_error_is_translated(
    fake_llm: FakeLLM, tmp_path: Path, files: dict[str, bytes]
) -> None:
    fake_llm.audio_error = Error(401)
    with pytest.raises(AuthError, match="rejected the API key"):
        await av.transcribe(files["wav"], "audio/wav", transcriber(fake_llm, tmp_path))


# -- video -------------------------------------------------------------------------------


def _color(jpeg: bytes) -> tuple[int, ...]:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and max(image.size) <= av.FRAME_LONG_EDGE
    return tuple(image.convert("RGB").resize((1, 1)).getpixel((0, 0)))  # type: ignore[arg-type]


async def test_video_gives_scene_frames_and_the_audio_transcript_once(
    fake_llm: FakeLLM, tmp_path: Path, files: dict[str, bytes], ffmpeg_runs: list[int]
) -> None:
    cache = Cache()
    tr = transcriber(fake_llm, tmp_path)
    out = await av.extract_av(
        files["video"], "video/mp4", media_id="v1", cache=cache, transcriber=tr
    )
    assert out.derived == ("frames", "transcript") and out.text == fake_llm.transcript
    # The first frame (test pattern) and the cut to red at 2 s, topped up to 0.5 fps.
    assert 2 <= len(out.images) <= av.DEFAULT_MAX_FRAMES
    assert all(t == "image/jpeg" for _, t in out.images)
    first, *rest = (_color(f) for f, _ in out.images)
    red = [c for c in rest if c[0] > 200 and c[1] < 60 and c[2] < 60]
    assert not (first[0] > 200 and first[1] < 60) and red
    # The audio track went as a small mono MP3, not the whole video.
    (req,) = fake_llm.audio_requests
    sent = req["files"]["file"]
    assert sent["content_type"] == "audio/mpeg" and sent["filename"].endswith(".mp3")
    assert len(sent["data"]) < len(files["video"])
    assert {"transcript", "frames", "frame-0001.jpg", "frame-0002.jpg"} <= cache.keys("v1")
    before = len(ffmpeg_runs)
    again = await av.extract_av(
        files["video"], "video/mp4", media_id="v1", cache=cache, transcriber=tr
    )
    assert again == out
    assert len(ffmpeg_runs) == before and len(fake_llm.audio_requests) == 1
    # Other sampling settings are not served from the cache.
    more = await av.extract_av(
        files["video"], "video/mp4", media_id="v1", cache=cache, transcriber=tr, fps=2, max_frames=3
    )
    assert len(more.images) == 3 and len(fake_llm.audio_requests) == 1


async def test_video_without_audio_or_transcriber_gives_frames_only(
    files: dict[str, bytes],
) -> None:
    for data in (files["mute"], files["video"]):
        out = await av.extract_av(data, "video/mp4", media_id=None, cache=None, transcriber=None)
        assert out.derived == ("frames",) and out.text == "" and out.images


async def test_garbage_video_is_a_media_error(files: dict[str, bytes]) -> None:
    with pytest.raises(MediaError):
        await av.extract_av(
            files["video"][:4000], "video/mp4", media_id=None, cache=None, transcriber=None
        )


def test_pick_times_prefers_cuts_and_stays_within_the_cap() -> None:
    assert av.pick_times(60, [], 0.5, 8) == [0.0, 11.25, 18.75, 26.25, 33.75, 41.25, 48.75, 56.25]
    # A cut is kept; the fixed rate only fills slots without a frame.
    assert av.pick_times(4, [2.0], 0.5, 8) == pytest.approx([0.0, 2.0, 10 / 3])
    many = av.pick_times(100, [i * 3.0 for i in range(1, 30)], 0.5, 8)
    assert len(many) == 8 and many[0] == 0.0 and set(many[1:]) <= {i * 3.0 for i in range(1, 30)}
    assert av.pick_times(0, [], 0.5, 8) == [0.0]
    assert av.pick_times(10, [0.2, 5.0, 5.1], 0.1, 8) == [0.0, 5.0]


# -- cancellation --------------------------------------------------------------------------


def _ffmpeg_children() -> list[psutil.Process]:
    me = psutil.Process()
    return [p for p in me.children(recursive=True) if "ffmpeg" in " ".join(p.cmdline())]


async def test_a_cancelled_extract_leaves_no_ffmpeg_running(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    # Over the API's 25 MB: it must be re-encoded first, which takes ffmpeg a while.
    big = silent_wav(tmp_path / "long.wav", seconds=300)
    task = asyncio.create_task(
        av.extract_av(
            big, "audio/wav", media_id=None, cache=None, transcriber=transcriber(fake_llm, tmp_path)
        )
    )
    for _ in range(2000):  # until the encoder is running (or the task ended)
        if task.done() or _ffmpeg_children():
            break
        await asyncio.sleep(0.005)
    assert not task.done(), "ffmpeg finished before the test could cancel it"
    running = _ffmpeg_children()
    assert running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _ffmpeg_children() == []
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in running)
    assert fake_llm.audio_requests == []
