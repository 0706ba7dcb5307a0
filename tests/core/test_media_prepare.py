"""media.prepare: every kind of media turned into what one model takes, with
real files (a phone photo with EXIF GPS and rotation, text and scanned PDFs, a
docx, speech by espeak-ng, a video by ffmpeg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from muxi_cli.errors import MediaError
from muxi_cli.llm.base import Media, Message
from muxi_cli.media import prepare as prep
from muxi_cli.media.prepare import ModelView, check_vision, prepare
from muxi_cli.providers import table
from muxi_cli.providers.spec import ImageLimits, MediaSupport
from muxi_cli.stores.media import MediaStore
from tests.core import media_files as files

ANTHROPIC = table.get("anthropic").image_limits  # type: ignore[union-attr]


class Transcribe:
    """A transcriber that records what it was asked (the av lane's speaks to a provider)."""

    def __init__(self, text: str = "hello from the recording") -> None:
        self.text = text
        self.calls: list[str] = []

    async def transcribe(self, data: bytes, media_type: str, name: str | None = None) -> str:
        self.calls.append(media_type)
        return self.text


def view(
    vision: bool = True,
    documents: bool = False,
    audio_in: bool = False,
    limits: ImageLimits = ANTHROPIC,
    fallback: Any = "error",
) -> ModelView:
    support = MediaSupport(
        vision, documents, audio_in, limits, frozenset({"audio/wav", "audio/mpeg"})
    )
    return ModelView("p/model", support, fallback)


def stored(store: MediaStore, data: bytes, media_type: str, name: str, kind: Any) -> Media:
    ref = store.put(data, media_type, name)
    return Media(kind, media_type, data, name, ref.id)


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


async def test_a_photo_is_turned_upright_fitted_and_stripped_and_cached(
    store: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muxi_cli.media.ingest import normalize

    photo = files.photo(3000, 2000)
    assert files.exif_of(photo)[files.GPS_TAG]  # the GPS position is there to begin with
    # As an attachment is: read for what it is at ingestion, fitted for each model.
    clean = normalize(photo, "shot.png", "image/png")
    item = stored(store, clean.data, clean.media_type, "shot.png", "image")
    (out,) = await prepare([Message("user", "look", media=(item,))], view(), cache=store)
    (sent,) = out.media
    width, height = files.size_of(sent.data)
    assert height > width  # orientation 6 applied: the landscape photo stands upright
    assert max(width, height) <= ANTHROPIC.max_long_edge
    assert width * height <= ANTHROPIC.max_pixels  # type: ignore[operator]
    assert len(sent.data) <= ANTHROPIC.max_bytes and sent.media_type in ANTHROPIC.types
    assert files.exif_of(sent.data) == {}  # no GPS, no orientation, nothing
    assert out.content == "look"

    # The fitted form is cached under (media id, limits): not computed again.
    from muxi_cli.media import images

    calls: list[object] = []

    def boom(*_a: Any, **_k: Any) -> Any:
        calls.append(_a)
        raise AssertionError("fitted twice")

    monkeypatch.setattr(images, "fit_image", boom)
    (again,) = await prepare([Message("user", "look", media=(item,))], view(), cache=store)
    assert again.media[0].data == sent.data
    assert not calls
    # Other limits are another form (prepare turns the error into a placeholder).
    await prepare([Message("user", "x", media=(item,))], view(limits=ImageLimits()), cache=store)
    assert calls


async def test_the_oldest_images_over_the_count_limit_become_placeholders(
    store: MediaStore,
) -> None:
    limits = ImageLimits(max_count=2)
    pics = [stored(store, files.photo(40, 30), "image/png", f"p{i}.png", "image") for i in range(3)]
    messages = [
        Message("user", "first", media=(pics[0],)),
        Message("assistant", "ok"),
        Message("user", "second", media=(pics[1], pics[2])),
    ]
    first, _, second = await prepare(messages, view(limits=limits), cache=store)
    assert first.media == () and "[image: p0.png, image/" in first.content
    assert "not sent: a request holds at most 2" in first.content
    assert [m.name for m in second.media] == ["p1.png", "p2.png"]


async def test_pdfs_stay_documents_where_read_and_become_text_elsewhere(store: MediaStore) -> None:
    pdf = stored(
        store, files.text_pdf("Invoice 4711 total 99 EUR"), "application/pdf", "inv.pdf", "document"
    )
    (native,) = await prepare(
        [Message("user", "sum", media=(pdf,))], view(documents=True), cache=store
    )
    assert native.media == (pdf,)

    (texted,) = await prepare(
        [Message("user", "sum", media=(pdf,))], view(documents=False), cache=store
    )
    assert texted.media == ()
    assert '<attachment name="inv.pdf" type="application/pdf" derived="text">' in texted.content
    assert "Invoice 4711 total 99 EUR" in texted.content
    # The text is in the store for session search (derived key "text").
    assert b"Invoice 4711" in (store.get_derived(pdf.id or "", "text") or b"")


async def test_a_scanned_pdf_becomes_ocr_text_and_page_images_for_a_vision_model(
    store: MediaStore,
) -> None:
    pdf = stored(
        store, files.scanned_pdf("SCANNED PAGE"), "application/pdf", "scan.pdf", "document"
    )
    (out,) = await prepare([Message("user", "read", media=(pdf,))], view(vision=True), cache=store)
    assert "SCANNED" in out.content.upper()
    (page,) = out.media
    assert page.kind == "image" and max(files.size_of(page.data)) <= ANTHROPIC.max_long_edge

    (blind,) = await prepare(
        [Message("user", "read", media=(pdf,))], view(vision=False), cache=store
    )
    assert blind.media == () and "SCANNED" in blind.content.upper()


async def test_a_docx_is_always_text(store: MediaStore) -> None:
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    doc = stored(store, files.docx("Minutes of the board meeting"), mime, "m.docx", "document")
    (out,) = await prepare([Message("user", "?", media=(doc,))], view(documents=True), cache=store)
    assert out.media == () and "Minutes of the board meeting" in out.content


async def test_audio_is_its_transcript_and_the_audio_for_models_that_hear(
    store: MediaStore, tmp_path: Path
) -> None:
    wav = stored(store, files.spoken_wav("hello world", tmp_path), "audio/wav", "memo.wav", "audio")
    heard = Transcribe()
    (deaf,) = await prepare(
        [Message("user", "?", media=(wav,))], view(), cache=store, transcriber=heard
    )
    assert deaf.media == ()
    assert '<attachment name="memo.wav" type="audio/wav" derived="transcript">' in deaf.content
    assert "hello from the recording" in deaf.content
    (hears,) = await prepare(
        [Message("user", "?", media=(wav,))], view(audio_in=True), cache=store, transcriber=heard
    )
    assert hears.media == (wav,) and "hello from the recording" in hears.content
    assert heard.calls == ["audio/wav"]  # transcribed once: the second time from the cache


async def test_audio_without_a_transcriber_is_a_placeholder_saying_why(store: MediaStore) -> None:
    item = Media("audio", "audio/mpeg", b"ID3 not much", "a.mp3")
    (out,) = await prepare([Message("user", "?", media=(item,))], view())
    assert out.media == ()
    assert "[audio: a.mp3, audio/mpeg, 12 bytes; could not be read:" in out.content


@pytest.mark.slow
async def test_a_video_becomes_frames_and_a_transcript(store: MediaStore, tmp_path: Path) -> None:
    clip = stored(store, files.short_video(tmp_path), "video/mp4", "clip.mp4", "video")
    (out,) = await prepare(
        [Message("user", "what happens?", media=(clip,))],
        view(),
        cache=store,
        transcriber=Transcribe(),
    )
    assert out.media and all(m.kind == "image" for m in out.media)
    assert all(max(files.size_of(m.data)) <= ANTHROPIC.max_long_edge for m in out.media)
    assert "hello from the recording" in out.content
    assert f"[{len(out.media)} frames of clip.mp4 follow as images]" in out.content


def test_images_for_a_model_without_vision_fail_early_naming_models_that_see() -> None:
    blind = ModelView("ollama/llama3.2", MediaSupport(), "error", ("anthropic/claude-sonnet-4-5",))
    with pytest.raises(MediaError) as caught:
        check_vision([("image", "shot.png"), ("text", "notes.txt")], blind)
    err = caught.value
    assert err.code == "bad_media" and err.exit_code == 2 and err.http_status == 422
    assert "ollama/llama3.2 cannot see images" in err.message and "shot.png" in err.message
    assert "anthropic/claude-sonnet-4-5" in (err.hint or "")
    assert "providers.ollama" in (err.hint or "")
    # Without vision models in the formation, well-known ones are named.
    alone = ModelView("ollama/llama3.2", MediaSupport())
    with pytest.raises(MediaError) as caught:
        check_vision([("video", None)], alone)
    assert all(m in (caught.value.hint or "") for m in prep.WELL_KNOWN_VISION)
    # Documents and audio need no vision; the OCR fallback lets images through.
    check_vision([("document", "a.pdf"), ("audio", "a.wav")], alone)
    check_vision([("image", "x.png")], ModelView("m/x", MediaSupport(), "ocr"))


async def test_the_ocr_fallback_sends_the_text_read_from_the_image(store: MediaStore) -> None:
    item = stored(store, files.text_image("INVOICE 4711"), "image/png", "scan.png", "image")
    (out,) = await prepare(
        [Message("user", "what does it say?", media=(item,))],
        view(vision=False, fallback="ocr"),
        cache=store,
    )
    assert out.media == ()
    assert '<attachment name="scan.png" type="image/png" derived="ocr">' in out.content
    assert "cannot see images; this is the text read from the image (OCR)" in out.content
    assert "4711" in out.content


async def test_messages_without_media_come_back_untouched() -> None:
    messages = [Message("user", "hi"), Message("assistant", "hello")]
    assert await prepare(messages, view()) is messages
