"""Attachments through whole turns: the real runtime, session and media stores,
the fake model server. Bad input fails before anything is stored or sent;
media ids resolve in the caller's own store only; what is derived is reported
and kept for search and memory."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.errors import MediaError, NotFoundError
from muxi_cli.llm.base import Message
from muxi_cli.memory.base import NoMemory
from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import Attachment
from tests.core import media_files as files
from tests.core.conftest import collect, request
from tests.core.test_media_prepare import Transcribe
from tests.fakellm import FakeLLM, JSONReply, Text

AGENTS = """agents:
  - name: main
  - name: eye
    model: openai/gpt-4o
"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def stored_media(runtime: Any) -> list[Any]:
    return list(runtime.store.media.for_owner("tester").list())


async def test_an_image_for_a_model_without_vision_fails_before_anything_happens(
    make_runtime: Any, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = make_runtime(AGENTS)
    shot = Attachment("shot.png", b64(files.photo(64, 48)), "image/png")
    # The agent is named: refused before the turn starts (exit 2, HTTP 422).
    with pytest.raises(MediaError) as caught:
        await runtime.chat(request("what is wrong here?", agent="main", attachments=[shot]))
    failed = caught.value
    assert failed.code == "bad_media" and failed.exit_code == 2 and failed.http_status == 422
    assert "openai/fake-model cannot see images" in failed.message and "shot.png" in failed.message
    assert "openai/gpt-4o" in (failed.hint or "")
    assert fake_llm.requests == []
    # Routed: refused once the router chose, before the agent's model is called.
    fake_llm.script(JSONReply({"agent": "main", "reason": "general"}))
    events = await collect(runtime.chat(request("what is wrong here?", attachments=[shot])))
    assert isinstance(events[-1], ev.RunFailed) and events[-1].code == "bad_media"
    assert "openai/fake-model cannot see images" in events[-1].message
    assert len(fake_llm.requests) == 1  # the router's call only
    assert await runtime.sessions() == []
    assert stored_media(runtime) == []


async def test_bad_files_fail_clearly_and_store_nothing(
    make_runtime: Any, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = make_runtime(AGENTS)
    good = Attachment("ok.png", b64(files.photo(64, 48)), "image/png")
    truncated = Attachment("cut.png", b64(files.photo(64, 48)[:60]), "image/png")
    lying = Attachment("notes.pdf", b64(files.photo(64, 48)), "application/pdf")
    for bad in (truncated, lying):
        with pytest.raises(MediaError):
            await runtime.chat(request("look", agent="eye", attachments=[good, bad]))
    assert fake_llm.requests == [] and await runtime.sessions() == []
    assert stored_media(runtime) == []


async def test_the_ocr_fallback_gives_a_blind_model_the_text_of_the_image(
    make_runtime: Any, fake_llm: FakeLLM
) -> None:
    runtime = make_runtime("media:\n  fallback: ocr\n")
    fake_llm.script(Text("It says 4711."))
    scan = Attachment("scan.png", b64(files.text_image("INVOICE 4711")), "image/png")
    events = await collect(runtime.chat(request("what does it say?", attachments=[scan])))
    assert events[-1].type == ev.RUN_COMPLETED
    user = fake_llm.requests[-1]["messages"][-1]
    assert isinstance(user["content"], str)  # text only: no image parts
    assert "4711" in user["content"] and "(OCR)" in user["content"]
    processed = [e for e in events if isinstance(e, ev.MediaProcessed)]
    assert [(p.name, p.derived) for p in processed] == [("scan.png", ("ocr",))]
    assert processed[0].meta["width"] == 900 and processed[0].meta["media_type"] == "image/png"


async def test_media_ids_resolve_in_the_callers_own_store_only(
    make_runtime: Any, fake_llm: FakeLLM
) -> None:
    runtime = make_runtime(AGENTS)
    media = runtime.store.media
    mine = media.for_owner("tester").put(
        files.photo(80, 60), "image/png", "mine.png", meta={"width": 80, "height": 60}
    )
    theirs = media.for_owner("mallory").put(files.photo(81, 60), "image/png", "theirs.png")

    fake_llm.script(Text("A red picture."))
    by_id = Attachment("mine.png", "", "image/png", media_id=mine.id)
    events = await collect(runtime.chat(request("and this?", agent="eye", attachments=[by_id])))
    assert events[-1].type == ev.RUN_COMPLETED
    user = fake_llm.requests[-1]["messages"][-1]
    assert user["content"][1]["image_url"]["url"].startswith("data:image/")
    stored = (await runtime.messages(events[0].session_id))[0]
    assert stored.parts[1].media == mine  # type: ignore[union-attr]

    # An uploaded text file joins the message as a tagged text block.
    notes = media.for_owner("tester").put(b"buy milk", "text/plain", "todo.txt")
    fake_llm.script(Text("Milk."))
    todo = Attachment("todo.txt", "", "text/plain", media_id=notes.id)
    await collect(runtime.chat(request("what to buy?", agent="eye", attachments=[todo])))
    content = fake_llm.requests[-1]["messages"][-1]["content"]
    assert '<attachment name="todo.txt" type="text/plain">\nbuy milk\n</attachment>' in content

    asked = len(fake_llm.requests)
    stolen = Attachment("theirs.png", "", "image/png", media_id=theirs.id)
    with pytest.raises(NotFoundError) as caught:
        await runtime.chat(request("and this?", agent="eye", attachments=[stolen]))
    assert caught.value.http_status == 404 and "only valid for the user" in (
        caught.value.hint or ""
    )
    assert len(fake_llm.requests) == asked


async def test_a_pdf_goes_to_anthropic_as_a_document_and_its_text_is_kept(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    from muxi_cli.runtime.local import LocalRuntime

    runtime = await LocalRuntime.open(
        config_path=fake_llm.write_formation(tmp_path, provider="anthropic")
    )
    fake_llm.script(Text("99 EUR."))
    pdf = files.text_pdf("Invoice 4711 total 99 EUR")
    try:
        events = await collect(
            runtime.chat(
                request("total?", attachments=[Attachment("inv.pdf", b64(pdf), "application/pdf")])
            )
        )
        assert events[-1].type == ev.RUN_COMPLETED
        (processed,) = [e for e in events if isinstance(e, ev.MediaProcessed)]
        assert processed.derived == ("text",) and processed.meta["pages"] == 1
        owner = runtime.store.media.for_owner(events[0].user_id)  # type: ignore[attr-defined]
        assert b"Invoice 4711" in owner.get_derived(processed.media_id, "text")
        # Session search finds the session by the text of its attachment.
        found = await runtime.sessions(query="4711")
        assert [f.id for f in found] == [events[0].session_id]
    finally:
        await runtime.aclose()
    text, document = fake_llm.requests[-1]["messages"][-1]["content"]
    assert text == {"type": "text", "text": "total?"}
    assert document == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": b64(pdf)},
    }


async def test_audio_reports_a_missing_transcriber_then_sends_the_transcript(
    make_runtime: Any, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = make_runtime()
    memo = Attachment("memo.wav", b64(files.spoken_wav("call me back", tmp_path)), "audio/wav")
    events = await collect(runtime.chat(request("summarise", attachments=[memo])))
    (failed,) = [e for e in events if isinstance(e, ev.MediaFailed)]
    assert failed.name == "memo.wav" and failed.code in ("bad_media", "config_error")
    assert events[-1].type == ev.RUN_COMPLETED  # the turn goes on without it
    assert "[audio: memo.wav, audio/wav" in fake_llm.requests[-1]["messages"][-1]["content"]

    runtime.orchestrator.engine.media_gate.transcriber = Transcribe("please call me back")
    events = await collect(runtime.chat(request("summarise", attachments=[memo])))
    (processed,) = [e for e in events if isinstance(e, ev.MediaProcessed)]
    assert processed.derived == ("transcript",)
    assert "please call me back" in fake_llm.requests[-1]["messages"][-1]["content"]


class RecordingMemory(NoMemory):
    def __init__(self) -> None:
        self.histories: list[list[Message]] = []

    async def after_turn(
        self, user_id: str, agent: Any, session_id: str, history: list[Message]
    ) -> None:
        self.histories.append(history)


async def test_memory_extraction_sees_the_text_of_attachments_never_bytes(
    make_runtime: Any, fake_llm: FakeLLM
) -> None:
    memory = RecordingMemory()
    runtime = make_runtime(memory=memory)
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    doc = Attachment("cv.docx", b64(files.docx("I have lived in Lisbon since 2019")), mime)
    await collect(runtime.chat(request("remember this", attachments=[doc])))
    await runtime.orchestrator.drain()
    (history,) = memory.histories
    assert all(m.media == () for m in history)
    assert "[document: cv.docx" in history[0].content
    assert "I have lived in Lisbon since 2019" in history[0].content


@pytest.mark.slow
async def test_a_video_reaches_a_vision_model_as_frames_sampled_as_configured(
    make_runtime: Any, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    runtime = make_runtime(AGENTS + "video:\n  fps: 1\n  max_frames: 2\n")
    runtime.orchestrator.engine.media_gate.transcriber = Transcribe("a tone plays")
    clip = Attachment("clip.mp4", b64(files.short_video(tmp_path, seconds=4)), "video/mp4")
    events = await collect(runtime.chat(request("what happens?", agent="eye", attachments=[clip])))
    assert events[-1].type == ev.RUN_COMPLETED
    (processed,) = [e for e in events if isinstance(e, ev.MediaProcessed)]
    assert "frames" in processed.derived and processed.meta["duration"] > 3
    text, *frames = fake_llm.requests[-1]["messages"][-1]["content"]
    assert 1 <= len(frames) <= 2 and all(f["type"] == "image_url" for f in frames)
    assert 'name="clip.mp4" type="video/mp4" derived="transcript"' in text["text"]
    assert f"[{len(frames)} frames of clip.mp4 follow as images]" in text["text"]


async def test_a_file_over_the_quota_is_refused_before_the_turn(
    make_runtime: Any, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    from muxi_cli.config.schema import MediaConfig
    from muxi_cli.errors import MediaTooLargeError
    from muxi_cli.stores.media import MediaStore

    runtime = make_runtime(AGENTS)
    runtime.store.media = MediaStore.from_config(MediaConfig(quota=10_000), root=tmp_path / "q")
    big = Attachment("big.png", b64(files.noise(100, 100)), "image/png")
    with pytest.raises(MediaTooLargeError) as caught:
        await runtime.chat(request("look", agent="eye", attachments=[big]))
    assert caught.value.http_status == 413 and "quota" in caught.value.message
    assert fake_llm.requests == [] and await runtime.sessions() == []
    assert runtime.store.media.for_owner("tester").list() == []
