"""``muxi chat "..." --speak FILE``: locally (the speech model, or espeak-ng)
and through a remote profile (the server's ``/v1/audio/speech``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.runtime import profiles
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi as muxi
from tests.server.serveproc import ServeProcess

SPEECH = "audio:\n  speech: openai/tts-1\n"
MP3 = b"\xff\xfb\x90\x44" + b"\0" * 413


def test_the_reply_is_spoken_by_the_speech_model(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path, extra=SPEECH)
    fake_llm.script(Text("**Four.** Two plus two is four."))
    fake_llm.speech_audio = MP3
    result = muxi("chat", "What is 2+2?", "--speak", "reply.mp3")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "**Four.** Two plus two is four.\n"
    assert (tmp_path / "reply.mp3").read_bytes() == MP3
    (req,) = fake_llm.audio_requests
    assert req["json"] == {
        "model": "tts-1",
        "input": "Four. Two plus two is four.",
        "voice": "alloy",
        "response_format": "mp3",
    }
    assert not list(tmp_path.glob(".*.part"))


def test_without_a_speech_model_espeak_speaks_a_wav(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path)
    fake_llm.script(Text("Hello there."))
    (tmp_path / "out").mkdir()
    result = muxi("chat", "hi", "--speak", "out/reply.wav", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "out" / "reply.wav").read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 10_000
    assert fake_llm.audio_requests == []


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("-", "cannot write to stdout"),
        ("reply.txt", "cannot tell the audio format"),
        ("missing/reply.mp3", "does not exist"),
    ],
)
def test_bad_targets_are_refused_before_the_turn(
    fake_llm: FakeLLM, tmp_path: Path, target: str, words: str
) -> None:
    fake_llm.write_formation(tmp_path, extra=SPEECH)
    result = muxi("chat", "hi", "--speak", target)
    assert result.returncode == 2
    assert words in result.stderr
    assert fake_llm.requests == [] and fake_llm.audio_requests == []


def test_a_failed_speech_keeps_the_reply_and_writes_nothing(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    from tests.fakellm import Error

    fake_llm.write_formation(tmp_path, extra=SPEECH)
    fake_llm.script(Text("Hello there."))
    fake_llm.audio_error = Error(401)
    result = muxi("chat", "hi", "--speak", "reply.mp3")
    assert result.returncode == 1
    assert result.stdout == "Hello there.\n"
    assert "rejected the API key" in result.stderr
    assert not (tmp_path / "reply.mp3").exists() and not list(tmp_path.glob(".*.part"))


def test_an_empty_reply_writes_no_file(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path, extra=SPEECH)
    fake_llm.script(Text(""))
    result = muxi("chat", "hi", "--speak", "reply.mp3")
    assert result.returncode == 0, result.stderr
    assert "nothing spoken" in result.stderr and not (tmp_path / "reply.mp3").exists()
    assert fake_llm.audio_requests == []


# -- through a profile ---------------------------------------------------------------------


@pytest.fixture
def served(fake_llm: FakeLLM, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "server"
    root.mkdir()
    config = fake_llm.write_formation(root, extra=SPEECH + "memory:\n  embedding: hash\n")
    keys = KeyStore(root / "home" / "data" / "server_keys.json")
    _, alice = keys.create("user", "alice")
    with ServeProcess(root / "home", config) as proc:
        profiles.add_profile("prod", proc.url)
        profiles.store_key("prod", alice)
        yield proc.url


@pytest.mark.slow
def test_speak_through_a_remote_profile(served: str, fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script(Text("Hello from the server."))
    fake_llm.speech_audio = MP3
    result = CliRunner().invoke(
        app, ["-P", "prod", "chat", "hi", "--speak", str(tmp_path / "reply.mp3")]
    )
    assert result.exit_code == 0, result.stderr
    assert "Hello from the server." in result.stdout
    assert (tmp_path / "reply.mp3").read_bytes() == MP3
    assert fake_llm.audio_requests[-1]["json"]["input"] == "Hello from the server."
