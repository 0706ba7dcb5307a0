"""Speech out: the provider's /v1/audio/speech (the fake model server) and the
espeak-ng fallback, chunking of long text, the errors."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from muxi_cli.config.loader import load_formation
from muxi_cli.errors import ConfigError, UsageError
from muxi_cli.llm.audio import APISpeaker, speaker_for
from muxi_cli.llm.registry import ProviderRegistry
from muxi_cli.media import speech
from tests.fakeaudio import silent_wav
from tests.fakellm import FakeLLM
from tests.media.avfiles import wav_seconds

SPEECH_CONFIG = "audio:\n  speech: openai/tts-1\n  voice: nova\n"


def speaker(fake: FakeLLM, tmp_path: Path, extra: str = SPEECH_CONFIG) -> APISpeaker | None:
    formation = load_formation(fake.write_formation(tmp_path, extra=extra)).formation
    return speaker_for(formation, ProviderRegistry(formation))


def is_mp3(data: bytes) -> bool:
    return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


async def test_the_speech_api_gets_exactly_the_openai_request(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.speech_audio = b"\xff\xfb\x90\x44" + b"\0" * 413
    sp = speaker(fake_llm, tmp_path)
    audio = await speech.synthesize("**Hello** there.", speaker=sp, voice=None, fmt="mp3")
    assert audio == fake_llm.speech_audio
    (req,) = fake_llm.audio_requests
    assert req["path"] == "/v1/audio/speech"
    assert req["headers"]["content-type"] == "application/json"
    # The markdown is not read out; the formation's voice is the default.
    assert req["json"] == {
        "model": "tts-1",
        "input": "Hello there.",
        "voice": "nova",
        "response_format": "mp3",
    }
    await speech.synthesize("Hi.", speaker=sp, voice="echo", fmt="opus")
    assert fake_llm.audio_requests[-1]["json"]["voice"] == "echo"
    assert fake_llm.audio_requests[-1]["json"]["response_format"] == "opus"


async def test_long_text_is_spoken_in_pieces_and_joined(
    fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_llm.speech_audio = silent_wav(0.5)
    sp = speaker(fake_llm, tmp_path)
    monkeypatch.setattr(sp, "max_chars", 40)
    text = "This is the first sentence. " * 5
    audio = await speech.synthesize(text, speaker=sp, voice=None, fmt="wav")
    pieces = [r["json"]["input"] for r in fake_llm.audio_requests]
    assert len(pieces) == 5 and all(len(p) <= 40 for p in pieces)
    assert " ".join(pieces) == text.strip()
    assert audio[:4] == b"RIFF" and wav_seconds(audio) == pytest.approx(2.5, abs=0.05)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "opus"])
async def test_espeak_speaks_when_no_model_is_configured(
    fake_llm: FakeLLM, tmp_path: Path, fmt: str
) -> None:
    assert speaker(fake_llm, tmp_path, extra="") is None
    # "alloy" is an API voice: espeak-ng (which crashes on unknown voices) gets its default.
    audio = await speech.synthesize("Hello from muxi.", speaker=None, voice="alloy", fmt=fmt)
    if fmt == "mp3":
        assert is_mp3(audio)
    elif fmt == "wav":
        assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
        with wave.open(io.BytesIO(audio)) as w:
            assert w.getnframes() / w.getframerate() > 0.5
    else:
        assert audio[:4] == b"OggS" and b"OpusHead" in audio[:100]
    assert fake_llm.audio_requests == []


async def test_espeak_takes_one_of_its_own_voices() -> None:
    default = await speech.synthesize("Hello.", speaker=None, voice=None, fmt="wav")
    other = await speech.synthesize("Hello.", speaker=None, voice="de", fmt="wav")
    assert other[:4] == b"RIFF" and other != default


async def test_no_model_and_no_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "espeak_exe", lambda: None)
    with pytest.raises(ConfigError, match=r"audio\.speech.*espeak-ng") as info:
        await speech.synthesize("Hello.", speaker=None, voice=None, fmt="mp3")
    assert "tts-1" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("text", "fmt", "words"),
    [("hello", "flac", "unknown speech format"), ("  **  ", "mp3", "no text to speak")],
)
async def test_bad_requests_are_usage_errors(text: str, fmt: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        await speech.synthesize(text, speaker=None, voice=None, fmt=fmt)


def test_split_text_cuts_at_sentences_then_spaces() -> None:
    text = "Hello there. This is muxi speaking. And one more sentence here."
    assert speech.split_text(text, 20) == [
        "Hello there.",
        "This is muxi",
        "speaking.",
        "And one more",
        "sentence here.",
    ]
    assert speech.split_text(text, 1000) == [text]
    assert speech.split_text("a" * 50, 20) == ["a" * 20, "a" * 20, "a" * 10]


def test_speakable_drops_markdown_and_control_sequences() -> None:
    reply = "# Title\n**Bold** [a link](http://x) `code`\n```py\nprint(1)\n```\n- item\n\x1b[31mred"
    assert speech.speakable(reply) == "Title\nBold a link code\n (code omitted) \nitem\nred"
