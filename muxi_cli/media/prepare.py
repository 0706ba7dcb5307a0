"""One model request's media, turned into what that model takes.

:func:`prepare` runs before every model call. It gets the provider-neutral
messages (their :class:`~muxi_cli.llm.base.Media` read from the media store)
and a :class:`ModelView` (what the model takes, its provider's limits) and
returns messages whose media the provider can send as they are:

- images are fitted to the provider's limits (size, long edge, pixels, types;
  ``media.images.fit_image``), each fitted form cached under the media's id and
  the limits; past the provider's count or byte budget the oldest become
  placeholders; a model without vision gets a placeholder, or with
  ``media: {fallback: ocr}`` the text read from the image;
- PDFs stay documents for models that read them (Anthropic ``document``
  blocks, OpenAI ``file`` parts), otherwise become their text (and, for
  scanned pages, page images when the model has vision); Word, PowerPoint,
  Excel and HTML files always become text;
- audio becomes its transcript, and is also sent as audio to models that hear
  it (OpenAI ``input_audio``: WAV and MP3 only);
- video becomes sampled frames (as images) and the transcript of its sound.

What was derived reaches the model as a tagged block in the message's text.
The images a user attaches for a model without vision are refused before the
turn starts (:func:`check_vision`), with the formation's models that have it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from muxi_cli.errors import MediaError, MuxiError
from muxi_cli.llm.base import Media, Message
from muxi_cli.media.types import DerivedCache, Extracted, Transcriber
from muxi_cli.providers.spec import ImageLimits, MediaSupport

log = logging.getLogger("muxi.media")

Fallback = Literal["error", "ocr"]

#: Models named when none of the formation's models has vision.
WELL_KNOWN_VISION = ("anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "ollama/llava")

#: The most characters of text one attachment contributes (a 500-page PDF
#: would otherwise fill any context); the rest is cut with a visible marker.
MAX_TEXT_CHARS = 200_000

#: The one document type a model may read as a file (Anthropic, OpenAI); others go as text.
_PDF = "application/pdf"


@dataclass(frozen=True, slots=True)
class ModelView:
    """What one model takes: its media support and limits, the formation's
    fallback for images it cannot see, and models that could see them."""

    model: str
    support: MediaSupport
    fallback: Fallback = "error"
    #: Models of the formation that have vision (named by the no-vision error).
    with_vision: tuple[str, ...] = ()


def vision_error(view: ModelView, names: Iterable[str] = ()) -> MediaError:
    """The error for images sent to a model without vision."""
    what = ", ".join(n for n in names if n) or "an image"
    others = view.with_vision or WELL_KNOWN_VISION
    where = "in this formation" if view.with_vision else "for example"
    return MediaError(
        f"{view.model} cannot see images, so it cannot answer about {what}.",
        hint=f"Models that can {where}: {', '.join(others)} (pass one with --model or "
        f"@agent). If {view.model} does see images, set `capabilities: {{vision: true}}` "
        f"under providers.{view.model.split('/', 1)[0]} in muxi.yaml; or set "
        "`media: {fallback: ocr}` to send the text read from images instead.",
    )


def check_vision(kinds: Iterable[tuple[str, str | None]], view: ModelView) -> None:
    """Refuse images and video (``(kind, name)`` pairs) for a model without
    vision, before anything is stored or sent, unless the formation falls back to OCR."""
    if view.support.vision or view.fallback == "ocr":
        return
    seen = [name or kind for kind, name in kinds if kind in ("image", "video")]
    if seen:
        raise vision_error(view, seen)


# ------------------------------------------------------------------ one item


@dataclass(slots=True)
class _Out:
    """What one media item becomes: media the model takes, text for it."""

    media: list[Media] = dataclasses.field(default_factory=list)
    text: list[str] = dataclasses.field(default_factory=list)


def _label(media: Media) -> str:
    return media.name or media.kind


def cut_text(text: str) -> str:
    """``text`` cut at ``MAX_TEXT_CHARS``, with a marker saying how much is left out."""
    if len(text) > MAX_TEXT_CHARS:
        cut = len(text) - MAX_TEXT_CHARS
        text = text[:MAX_TEXT_CHARS] + f"\n…[{cut} more characters not shown]"
    return text


def _block(media: Media, derived: str, text: str, note: str = "") -> str:
    """Text derived from ``media``, tagged so the model knows where it comes from.
    The name comes from a client: quoted, so it cannot close the tag."""
    text = cut_text(text)
    name = html.escape(media.name or "", quote=True)
    mime = html.escape(media.media_type, quote=True)
    head = f'<attachment name="{name}" type="{mime}" derived="{derived}">'
    body = f"{note}\n{text}" if note else text
    return f"{head}\n{body}\n</attachment>"


def _placeholder(media: Media, why: str) -> str:
    label = f"{media.name}, " if media.name else ""
    return f"[{media.kind}: {label}{media.media_type}, {len(media.data)} bytes; {why}]"


def _fitted_from_cache(raw: bytes) -> tuple[bytes, str] | None:
    media_type, sep, data = raw.partition(b"\0")
    return (data, media_type.decode("ascii")) if sep else None


async def fit(
    media: Media,
    limits: ImageLimits,
    cache: DerivedCache | None,
    *,
    media_id: str | None = None,
    suffix: str = "",
) -> Media:
    """``media`` (an image) fitted to ``limits``; cached per (media id, limits)
    (a derived image, such as a page, under its source's id and a ``suffix``)."""
    key = limits.key + suffix
    media_id = media_id or media.id
    if media_id and cache is not None:
        hit = cache.get_derived(media_id, key)
        found = _fitted_from_cache(hit) if hit else None
        if found is not None:
            return dataclasses.replace(media, data=found[0], media_type=found[1])
    # deferred: Pillow loads only when an image is sent
    from muxi_cli.media.images import fit_image

    data, media_type = await asyncio.to_thread(
        fit_image,
        media.data,
        media.media_type,
        max_bytes=limits.max_bytes,
        max_long_edge=limits.max_long_edge,
        max_pixels=limits.max_pixels,
        types=limits.types,
    )
    if media_id and cache is not None:
        cache.put_derived(media_id, key, media_type.encode("ascii") + b"\0" + data)
    return dataclasses.replace(media, data=data, media_type=media_type)


#: How a video is sampled: frames per second, most frames (the formation's ``video``).
Sampling = tuple[float, int]


async def extract_media(
    data: bytes,
    media_type: str,
    *,
    media_id: str | None,
    cache: DerivedCache | None,
    transcriber: Transcriber | None,
    ocr: bool = True,
    video: Sampling | None = None,
) -> Extracted:
    """``media.ingest.extract``, with the formation's video sampling for audio
    and video (``media.av.extract_av``); cached under ``media_id``."""
    if video is not None and media_type.startswith(("audio/", "video/")):
        # deferred: ffmpeg's wrapper loads only for audio and video
        from muxi_cli.media.av import extract_av

        fps, frames = video
        return await extract_av(
            data,
            media_type,
            media_id=media_id,
            cache=cache,
            transcriber=transcriber,
            fps=fps,
            max_frames=frames,
        )
    # deferred: the document, OCR and audio libraries load only when needed
    from muxi_cli.media.ingest import extract

    return await extract(
        data, media_type, media_id=media_id, cache=cache, transcriber=transcriber, ocr=ocr
    )


class _Preparer:
    def __init__(
        self,
        view: ModelView,
        cache: DerivedCache | None,
        transcriber: Transcriber | None,
        video: Sampling | None,
    ) -> None:
        self.view = view
        self.support = view.support
        self.cache = cache
        self.transcriber = transcriber
        self.video = video

    async def _extract(self, media: Media, *, ocr: bool = True) -> Extracted:
        return await extract_media(
            media.data,
            media.media_type,
            media_id=media.id,
            cache=self.cache,
            transcriber=self.transcriber,
            ocr=ocr,
            video=self.video,
        )

    async def one(self, media: Media) -> _Out:
        try:
            if media.kind == "image":
                return await self._image(media)
            if media.kind == "audio":
                return await self._audio(media)
            if media.kind == "video":
                return await self._video(media)
            return await self._document(media)
        except MuxiError as exc:
            log.info("media %s not prepared: %s", _label(media), exc.message)
            return _Out(text=[_placeholder(media, f"could not be read: {exc.message}")])
        except Exception as exc:  # a parser's own error on a damaged file: never fail the turn
            log.warning("media %s not prepared", _label(media), exc_info=True)
            reason = f"could not be read: {type(exc).__name__}"
            return _Out(text=[_placeholder(media, reason)])

    async def _images(self, images: Iterable[tuple[bytes, str]], source: Media) -> list[Media]:
        """Derived images (page images, frames), fitted like any image."""
        out = []
        for i, (data, media_type) in enumerate(images, 1):
            item = Media("image", media_type, data, f"{_label(source)} #{i}")
            limits = self.support.limits
            out.append(await fit(item, limits, self.cache, media_id=source.id, suffix=f":{i}"))
        return out

    async def _image(self, media: Media) -> _Out:
        if self.support.vision:
            return _Out(media=[await fit(media, self.support.limits, self.cache)])
        if self.view.fallback == "ocr":
            found = await self._extract(media)
            note = (
                f"[muxi: {self.view.model} cannot see images; this is the text read from "
                "the image (OCR), not the image itself]"
            )
            return _Out(text=[_block(media, "ocr", found.text or "(no text found)", note)])
        return _Out(text=[_placeholder(media, f"not shown: {self.view.model} has no vision")])

    async def _document(self, media: Media) -> _Out:
        limits = self.support.limits
        if (
            media.media_type == _PDF
            and self.support.documents
            and len(media.data) <= limits.request_bytes
            and media.meta.get("pages", 0) <= limits.max_pdf_pages
        ):
            return _Out(media=[media])
        found = await self._extract(media)
        out = _Out(text=[_block(media, "text", found.text or "(no text found)")])
        if found.images and self.support.vision:
            out.media += await self._images(found.images, media)
        elif found.images and not found.text.strip():
            out.text.append(
                _placeholder(media, "its pages are images, and this model has no vision")
            )
        return out

    async def _audio(self, media: Media) -> _Out:
        out = _Out()
        heard = self.support.audio_in and media.media_type in self.support.audio_types
        if heard:
            out.media.append(media)
        try:
            found = await self._extract(media)
        except MuxiError as exc:
            if not heard:
                raise
            log.info("no transcript of %s: %s", _label(media), exc.message)
            return out
        out.text.append(_block(media, "transcript", found.text or "(no speech found)"))
        return out

    async def _video(self, media: Media) -> _Out:
        found = await self._extract(media)
        out = _Out(text=[_block(media, "transcript", found.text or "(no speech found)")])
        if found.images and self.support.vision:
            out.media += await self._images(found.images, media)
            out.text.append(f"[{len(found.images)} frames of {_label(media)} follow as images]")
        elif found.images:
            out.text.append(
                _placeholder(media, f"its frames are not shown: {self.view.model} has no vision")
            )
        return out


# --------------------------------------------------------------- the request


def _join(text: str, blocks: list[str]) -> str:
    return "\n\n".join(s for s in [text, *blocks] if s)


def _within_budget(messages: list[Message], limits: ImageLimits) -> list[Message]:
    """Keep the newest images within the count limit, and the newest media within
    the request's byte budget; older ones become placeholders."""
    images = 0
    spent = 0
    out: list[Message] = []
    for msg in reversed(messages):
        kept: list[Media] = []
        notes: list[str] = []
        for media in reversed(msg.media):
            if media.kind == "image" and images >= limits.max_count:
                notes.append(
                    _placeholder(media, f"not sent: a request holds at most {limits.max_count}")
                )
                continue
            if spent + len(media.data) > limits.request_bytes:
                notes.append(_placeholder(media, "not sent: the request is full"))
                continue
            images += media.kind == "image"
            spent += len(media.data)
            kept.append(media)
        if notes:
            msg = dataclasses.replace(
                msg, content=_join(msg.content, notes[::-1]), media=tuple(kept[::-1])
            )
        out.append(msg)
    return out[::-1]


async def prepare(
    messages: list[Message],
    view: ModelView,
    *,
    cache: DerivedCache | None = None,
    transcriber: Transcriber | None = None,
    video: Sampling | None = None,
) -> list[Message]:
    """``messages`` with every media item turned into what ``view``'s model takes
    (see the module docstring; ``video``: how videos are sampled, else the
    defaults). Messages without media are returned as they are."""
    if not any(m.media for m in messages):
        return messages
    worker = _Preparer(view, cache, transcriber, video)
    out: list[Message] = []
    for msg in messages:
        if not msg.media:
            out.append(msg)
            continue
        media: list[Media] = []
        blocks: list[str] = []
        for item in msg.media:
            done = await worker.one(item)
            media += done.media
            blocks += done.text
        out.append(dataclasses.replace(msg, content=_join(msg.content, blocks), media=tuple(media)))
    return _within_budget(out, view.support.limits)
