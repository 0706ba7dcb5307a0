"""Media in the wire formats: what the real SDKs send the fake model server."""

from __future__ import annotations

import base64

from muxi_cli.llm.base import Media, Message, ToolCall, ToolSpec, complete
from tests.fakellm import FakeLLM
from tests.llm.test_providers import make, req

PNG = b"\x89PNG\r\n\x1a\n fake"
PDF = b"%PDF-1.4 fake"
B64 = base64.b64encode(PNG).decode()


#: Tool blocks in a request need the tools offered (the Anthropic API's rule).
SHOT = ToolSpec("shot", "takes a screenshot", {"type": "object"})


def _conversation() -> list[Message]:
    call = ToolCall("c1", "shot", {})
    return [
        Message(
            "user",
            "look",
            media=(
                Media("image", "image/png", PNG, "a.png"),
                Media("document", "application/pdf", PDF, "a.pdf"),
                Media("audio", "audio/wav", b"RIFF", "a.wav"),
                Media("image", "image/bmp", b"BM", "a.bmp"),
            ),
        ),
        Message("assistant", "", tool_calls=(call,)),
        Message(
            "tool",
            "took it",
            tool_call_id="c1",
            tool_name="shot",
            media=(Media("image", "image/png", PNG),),
        ),
    ]


async def test_openai_content_arrays_and_tool_images_after_the_tool_message(
    fake_llm: FakeLLM,
) -> None:
    provider = make("openai", fake_llm)
    try:
        await complete(provider, req(*_conversation()))
    finally:
        await provider.aclose()
    user, _assistant, tool, follow = fake_llm.requests[-1]["messages"]
    pdf_url = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    assert user["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64}"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": pdf_url}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "text", "text": "[image: a.bmp, image/bmp, 2 bytes; not shown to you]"},
    ]
    assert tool == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "took it\n[1 image(s) of this result follow in a user message]",
    }
    assert follow == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Images returned by tool call c1 (shot):"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64}"}},
        ],
    }


async def test_anthropic_image_document_blocks_and_images_in_tool_results(
    fake_llm: FakeLLM,
) -> None:
    provider = make("anthropic", fake_llm)
    try:
        await complete(provider, req(*_conversation(), tools=[SHOT]))
    finally:
        await provider.aclose()
    user, _assistant, results = fake_llm.requests[-1]["messages"]
    png = {"type": "base64", "media_type": "image/png", "data": B64}
    pdf = {
        "type": "base64",
        "media_type": "application/pdf",
        "data": base64.b64encode(PDF).decode(),
    }
    assert user["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "source": png},
        {"type": "document", "source": pdf},
        {"type": "text", "text": "[audio: a.wav, audio/wav, 4 bytes; not shown to you]"},
        {"type": "text", "text": "[image: a.bmp, image/bmp, 2 bytes; not shown to you]"},
    ]
    assert results["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "c1",
            "content": [{"type": "text", "text": "took it"}, {"type": "image", "source": png}],
        }
    ]


async def test_text_only_messages_keep_their_plain_shape(fake_llm: FakeLLM) -> None:
    for kind in ("openai", "anthropic"):
        provider = make(kind, fake_llm)
        try:
            await complete(provider, req(Message("user", "hi")))
        finally:
            await provider.aclose()
        (user,) = fake_llm.requests[-1]["messages"]
        assert user["content"] in ("hi", [{"type": "text", "text": "hi"}])


async def test_compatible_servers_get_the_same_shapes(fake_llm: FakeLLM) -> None:
    """What a model takes is decided per model before the wire (media.prepare);
    a compatible server gets the same shapes as the hosted API."""
    from muxi_cli.llm.openai_provider import OpenAIProvider

    provider = OpenAIProvider("local", compat=True, base_url=fake_llm.openai_base_url)
    try:
        await complete(provider, req(*_conversation()))
    finally:
        await provider.aclose()
    user, _assistant, tool, follow = fake_llm.requests[-1]["messages"]
    assert tool["content"].endswith("[1 image(s) of this result follow in a user message]")
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert follow["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
