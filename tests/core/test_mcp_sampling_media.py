"""Sampling with images and audio: a real MCP server (tests/mcp_servers/elicit_server.py,
tool ``look``) asks the turn's model about media; the fake model server answers."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

from muxi_cli.protocol import events as ev
from muxi_cli.runtime.local import LocalRuntime
from tests.core import media_files as files
from tests.core.test_mcp_input import SERVER, run_turn, tool_text
from tests.fakellm import FakeLLM, Text, ToolCalls


def formation(fake_llm: FakeLLM, tmp_path: Path, sampling_model: str = "") -> Path:
    model = f"    sampling_model: {sampling_model}\n" if sampling_model else ""
    extra = (
        f"mcp_servers:\n  booker:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        f"    approval: allow\n    sampling: allow\n{model}"
        "agents:\n  - name: a\n    mcp_servers: [booker]\n"
    )
    return fake_llm.write_formation(tmp_path, extra=extra)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def look(data: bytes, mime_type: str, question: str = "What is this?") -> ToolCalls:
    args = {"data": b64(data), "mime_type": mime_type, "question": question}
    return ToolCalls([("booker__look", args)])


async def turn_events(runtime: LocalRuntime) -> list[ev.Event]:
    async def nothing(turn, event) -> None:
        return None

    try:
        return await run_turn(runtime, "deny", nothing)
    finally:
        await runtime.aclose()


def tone_wav() -> bytes:
    """A tenth of a second of silence as a 16-bit mono WAV."""
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 1600)
    return buf.getvalue()


async def test_an_image_reaches_a_vision_model_cleaned_and_its_answer_returns(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    config = formation(fake_llm, tmp_path, "openai/gpt-4o")
    runtime = await LocalRuntime.open(config_path=config)
    fake_llm.script(
        look(files.photo(64, 48), "image/png", "What colour?"), Text("Red."), Text("Ok.")
    )
    seen = await turn_events(runtime)
    [asked] = [e for e in seen if isinstance(e, ev.SamplingRequested)]
    assert asked.model == "openai/gpt-4o"
    [message] = asked.messages
    assert message["text"] == "What colour?"
    assert [(m["kind"], m["media_type"]) for m in message["media"]] == [("image", "image/png")]
    sampled = fake_llm.requests[1]
    assert sampled["model"] == "gpt-4o"
    parts = sampled["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "What colour?"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    # Cleaned like a user's attachment: the phone's GPS position does not reach the model.
    sent = base64.b64decode(url.split(",", 1)[1])
    assert files.GPS_TAG not in files.exif_of(sent)
    assert tool_text(fake_llm) == "seen (openai/gpt-4o): Red."
    assert seen[-1].type == ev.RUN_COMPLETED


async def test_a_model_without_vision_is_refused_clearly_before_anyone_is_asked(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = await LocalRuntime.open(config_path=formation(fake_llm, tmp_path))
    fake_llm.script(look(files.photo(64, 48), "image/png"), Text("It could not look."))
    seen = await turn_events(runtime)
    assert not any(isinstance(e, ev.SamplingRequested) for e in seen)
    assert len(fake_llm.requests) == 2  # the agent's two calls; no sampling call
    result = next(e for e in seen if isinstance(e, ev.ToolResult))
    assert "openai/fake-model cannot see images" in result.content
    assert seen[-1].type == ev.RUN_COMPLETED  # the turn goes on: a refusal, not a crash


async def test_audio_reaches_a_model_that_hears_and_is_refused_for_one_that_does_not(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    hears = tmp_path / "hears"
    hears.mkdir()
    runtime = await LocalRuntime.open(
        config_path=formation(fake_llm, hears, "openai/gpt-4o-audio-preview")
    )
    fake_llm.script(look(tone_wav(), "audio/wav", "Any words?"), Text("Silence."), Text("Ok."))
    seen = await turn_events(runtime)
    parts = fake_llm.requests[1]["messages"][-1]["content"]
    assert isinstance(parts, list), parts  # text and audio, not the refusal's text
    audio = next(p for p in parts if p["type"] == "input_audio")
    assert audio["input_audio"]["format"] == "wav"
    assert tool_text(fake_llm) == "seen (openai/gpt-4o-audio-preview): Silence."
    assert seen[-1].type == ev.RUN_COMPLETED

    deaf = tmp_path / "deaf"
    deaf.mkdir()
    runtime = await LocalRuntime.open(config_path=formation(fake_llm, deaf))
    fake_llm.script(look(tone_wav(), "audio/wav"), Text("Nothing."))
    before = len(fake_llm.requests)
    seen = await turn_events(runtime)
    assert len(fake_llm.requests) == before + 2  # no sampling call
    result = next(e for e in seen if isinstance(e, ev.ToolResult))
    assert "cannot hear audio" in result.content and "audio.transcribe" in result.content


async def test_media_that_lies_about_its_type_never_reaches_the_model(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    config = formation(fake_llm, tmp_path, "openai/gpt-4o")
    runtime = await LocalRuntime.open(config_path=config)
    pdf = files.text_pdf("not a picture")
    fake_llm.script(look(pdf, "image/png"), Text("No."))
    seen = await turn_events(runtime)
    assert not any(isinstance(e, ev.SamplingRequested) for e in seen)
    assert len(fake_llm.requests) == 2
    result = next(e for e in seen if isinstance(e, ev.ToolResult))
    assert "PDF" in result.content and "not a PNG image" in result.content


async def test_the_ocr_fallback_gives_a_blind_sampling_model_the_text_of_the_image(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    config = formation(fake_llm, tmp_path)
    config.write_text(config.read_text() + "media:\n  fallback: ocr\n")
    runtime = await LocalRuntime.open(config_path=config)
    scan = files.text_image("INVOICE 4711")
    fake_llm.script(look(scan, "image/png", "Which number?"), Text("4711."), Text("Ok."))
    seen = await turn_events(runtime)
    sent = fake_llm.requests[1]["messages"][-1]["content"]
    assert isinstance(sent, str)  # text only: no image part for a blind model
    assert "Which number?" in sent and "4711" in sent and "(OCR)" in sent
    assert tool_text(fake_llm) == "seen (openai/fake-model): 4711."
    assert seen[-1].type == ev.RUN_COMPLETED


async def test_audio_for_a_model_that_does_not_hear_goes_as_the_formations_transcript(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    from tests.core.test_media_prepare import Transcribe

    runtime = await LocalRuntime.open(config_path=formation(fake_llm, tmp_path))
    heard = Transcribe("please call me back")
    # The engine's own transcriber, as a user's audio attachment would use.
    runtime.orchestrator.engine.media_gate.transcriber = heard
    fake_llm.script(look(tone_wav(), "audio/wav", "What was said?"), Text("A callback."), Text("."))
    seen = await turn_events(runtime)
    sent = fake_llm.requests[1]["messages"][-1]["content"]
    assert isinstance(sent, str)  # no audio part for a model that does not hear
    assert "What was said?" in sent and "please call me back" in sent
    assert heard.calls == ["audio/wav"]
    assert tool_text(fake_llm) == "seen (openai/fake-model): A callback."
    assert seen[-1].type == ev.RUN_COMPLETED
