"""Exactly what reaches each provider for every kind of media, through whole
turns: the real runtime and SDKs, the fake model server speaking both wire
formats, a real MCP server returning media. Block types, media types, sizes
within the provider's limits, no EXIF in the image bytes."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.messages import AudioPart, DocumentPart, ImagePart, ToolResultPart
from muxi_cli.protocol.records import Attachment
from muxi_cli.providers import table
from muxi_cli.runtime.local import LocalRuntime
from tests.core import media_files as files
from tests.core.conftest import collect, request
from tests.core.test_media_prepare import Transcribe
from tests.fakellm import FakeLLM, Text, ToolCalls

DEMO = Path(__file__).resolve().parent.parent / "mcp_servers" / "demo_server.py"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def check_image(data: bytes, provider: str) -> None:
    """Within ``provider``'s documented limits, upright, without metadata."""
    limits = table.get(provider).image_limits  # type: ignore[union-attr]
    width, height = files.size_of(data)
    assert max(width, height) <= limits.max_long_edge
    assert limits.max_pixels is None or width * height <= limits.max_pixels
    assert len(data) <= limits.max_bytes
    assert files.exif_of(data) == {}


async def runtime_for(
    fake_llm: FakeLLM, tmp_path: Path, provider: str, model: str, extra: str = ""
) -> LocalRuntime:
    config = fake_llm.write_formation(tmp_path, provider=provider, model=model, extra=extra)
    runtime = await LocalRuntime.open(config_path=config)
    runtime.orchestrator.engine.media_gate.transcriber = Transcribe("the memo says call me back")
    return runtime


def attachments(tmp_path: Path) -> list[Attachment]:
    return [
        Attachment("shot.png", b64(files.photo(3000, 2000)), "image/png"),
        Attachment("inv.pdf", b64(files.text_pdf("Invoice 4711")), "application/pdf"),
        Attachment("cv.docx", b64(files.docx("Lived in Lisbon")), DOCX),
        Attachment("memo.wav", b64(files.spoken_wav("call me back", tmp_path)), "audio/wav"),
    ]


async def test_anthropic_gets_image_and_document_blocks_and_text_for_the_rest(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = await runtime_for(fake_llm, tmp_path, "anthropic", "claude-sonnet-4-5")
    try:
        events = await collect(runtime.chat(request("look", attachments=attachments(tmp_path))))
    finally:
        await runtime.aclose()
    assert events[-1].type == ev.RUN_COMPLETED
    body = fake_llm.requests[-1]
    text, image, document = body["messages"][-1]["content"]
    assert text["type"] == "text" and text["text"].startswith("look")
    assert "Lived in Lisbon" in text["text"] and "the memo says call me back" in text["text"]
    assert 'derived="transcript"' in text["text"] and 'name="cv.docx"' in text["text"]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert image["source"]["media_type"] in ("image/jpeg", "image/png")
    data = base64.b64decode(image["source"]["data"])
    check_image(data, "anthropic")
    assert files.size_of(data)[1] > files.size_of(data)[0]  # turned upright
    assert document["type"] == "document"
    assert document["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(document["source"]["data"]).startswith(b"%PDF-")


async def test_openai_gets_image_url_and_file_parts(fake_llm: FakeLLM, tmp_path: Path) -> None:
    runtime = await runtime_for(fake_llm, tmp_path, "openai", "gpt-4o")
    try:
        events = await collect(runtime.chat(request("look", attachments=attachments(tmp_path))))
    finally:
        await runtime.aclose()
    assert events[-1].type == ev.RUN_COMPLETED
    text, image, document = fake_llm.requests[-1]["messages"][-1]["content"]
    assert text["type"] == "text" and "the memo says call me back" in text["text"]
    assert image["type"] == "image_url"
    url = image["image_url"]["url"]
    media_type, _, data = url.removeprefix("data:").partition(";base64,")
    assert media_type in ("image/jpeg", "image/png")
    check_image(base64.b64decode(data), "openai")
    assert document["type"] == "file" and document["file"]["filename"] == "inv.pdf"
    assert document["file"]["file_data"].startswith("data:application/pdf;base64,JVBER")


async def test_an_openai_audio_model_gets_input_audio_and_the_transcript(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = await runtime_for(fake_llm, tmp_path, "openai", "gpt-4o-audio-preview")
    wav = files.spoken_wav("call me back", tmp_path)
    try:
        memo = Attachment("memo.wav", b64(wav), "audio/wav")
        events = await collect(runtime.chat(request("summarise", attachments=[memo])))
    finally:
        await runtime.aclose()
    assert events[-1].type == ev.RUN_COMPLETED
    text, audio = fake_llm.requests[-1]["messages"][-1]["content"]
    assert "the memo says call me back" in text["text"]
    assert audio == {"type": "input_audio", "input_audio": {"data": b64(wav), "format": "wav"}}


def _bundle_formation(provider: str) -> str:
    return (
        f"mcp_servers:\n  demo:\n    command: {sys.executable}\n    args: [{str(DEMO)!r}]\n"
        "    approval: allow\nagents:\n  - name: a\n    mcp_servers: [demo]\n"
    )


async def _bundle_turn(
    fake_llm: FakeLLM, tmp_path: Path, provider: str, model: str
) -> tuple[list[Any], Any]:
    runtime = await runtime_for(fake_llm, tmp_path, provider, model, _bundle_formation(provider))
    fake_llm.script(ToolCalls([("demo__bundle", {})]), Text("Got it."))
    try:
        events = await collect(runtime.chat(request("fetch the bundle")))
        stored = await runtime.messages(events[0].session_id)
        owner = runtime.store.media.for_owner(events[0].user_id)  # type: ignore[attr-defined]
        (tool,) = [m for m in stored if m.role == "tool"]
        # The tool's photo is kept without its metadata (the GPS position is gone).
        (image,) = [p for p in tool.parts[0].parts if isinstance(p, ImagePart)]  # type: ignore[union-attr]
        assert files.exif_of(owner.get(image.media)) == {}
    finally:
        await runtime.aclose()
    assert events[-1].type == ev.RUN_COMPLETED
    (result,) = [e for e in events if isinstance(e, ev.ToolResult)]
    # The screen learns what the tool returned: the stored references.
    assert [m["media_type"] for m in result.media] == ["image/png", "application/pdf", "audio/wav"]
    assert [m.get("name") for m in result.media] == [None, "report.pdf", None]
    (part,) = tool.parts
    assert isinstance(part, ToolResultPart)
    kinds = [type(p) for p in part.parts[1:]]
    assert kinds == [ImagePart, DocumentPart, AudioPart]
    assert "notes from the resource" in part.text
    return events, fake_llm.requests[-1]["messages"]


async def test_mcp_media_reach_anthropic_inside_the_tool_result(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    _events, sent = await _bundle_turn(fake_llm, tmp_path, "anthropic", "claude-sonnet-4-5")
    (block,) = sent[-1]["content"]
    assert block["type"] == "tool_result"
    text, image, document = block["content"]
    assert text["type"] == "text" and "notes from the resource" in text["text"]
    assert "the memo says call me back" in text["text"]  # the audio's transcript
    assert image["type"] == "image"
    check_image(base64.b64decode(image["source"]["data"]), "anthropic")
    assert document["type"] == "document" and document["source"]["media_type"] == "application/pdf"


async def test_mcp_media_follow_the_openai_tool_message_as_a_user_message(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    _events, sent = await _bundle_turn(fake_llm, tmp_path, "openai", "gpt-4o")
    tool, follow = sent[-2:]
    assert tool["role"] == "tool" and "notes from the resource" in tool["content"]
    assert tool["content"].count("[2 media item(s) of this result follow in a user message]") == 1
    assert follow["role"] == "user"
    label, image, document = follow["content"]
    assert label["text"].startswith("Media returned by tool call")
    check_image(base64.b64decode(image["image_url"]["url"].split(",", 1)[1]), "openai")
    assert document["file"]["filename"] == "report.pdf"
