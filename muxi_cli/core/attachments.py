"""A user's attachments and a tool's media as content parts.

A turn's attachments are checked before anything is stored
(:func:`check_attachments`): text attachments (``text/*``, JSON, XML, YAML, ...)
join the message text as tagged blocks, as the model has always seen them;
any other attachment is base64 bytes, read for what it really is
(``media.ingest.normalize``: the type from the bytes, images without their
metadata), or the id of media the caller already stored (``media_id``, looked
up in the caller's own store only). Then the bytes go to the media store
(:func:`store_attachments`) and the message holds image, audio, video or
document parts; what can be read from them is extracted once and cached
(:func:`extract_events`), reported as ``media.processed`` / ``media.failed``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from muxi_cli.errors import MediaError, MediaTooLargeError, MuxiError, NotFoundError, UsageError
from muxi_cli.llm.base import Media
from muxi_cli.media.prepare import cut_text, extract_media
from muxi_cli.media.types import Normalized, Transcriber
from muxi_cli.protocol.events import Event, EventFactory
from muxi_cli.protocol.messages import (
    AudioPart,
    DocumentPart,
    ImagePart,
    MediaPart,
    MediaRef,
    Part,
    ResultPart,
    TextPart,
    ToolResultPart,
    VideoPart,
)
from muxi_cli.protocol.records import Attachment

log = logging.getLogger(__name__)

_TEXT_TYPES = frozenset(
    {
        "application/json", "application/xml", "application/yaml", "application/x-yaml",
        "application/toml", "application/javascript", "application/x-sh", "application/sql",
    }
)  # fmt: skip


class MediaSink(Protocol):
    """The part of ``stores.media.MediaStore`` the engine uses (its owner's namespace)."""

    def put(
        self,
        data: bytes,
        media_type: str,
        name: str | None = None,
        meta: dict[str, int | float] | None = None,
    ) -> MediaRef: ...

    def get(self, ref: MediaRef | str) -> bytes: ...

    def info(self, media_id: str) -> MediaRef | None: ...

    def has(self, ref: MediaRef | str) -> bool: ...

    def delete(self, media_id: str) -> None: ...

    def get_derived(self, media_id: str, key: str) -> bytes | None: ...

    def put_derived(self, media_id: str, key: str, data: bytes) -> None: ...

    @property
    def max_bytes(self) -> int: ...

    @property
    def quota_bytes(self) -> int | None: ...

    def usage(self) -> int: ...


def is_text_type(mime: str) -> bool:
    mime = (mime or "text/plain").split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def kind_of(media_type: str) -> str:
    """``image``, ``audio``, ``video`` or ``document`` for a media type."""
    major = media_type.split("/", 1)[0].lower()
    return major if major in ("image", "audio", "video") else "document"


def _decode(att: Attachment) -> bytes:
    try:
        return base64.b64decode(att.content, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError(
            f"Attachment {att.name!r} ({att.mime}) is not valid base64.",
            hint="Send a binary attachment's bytes base64-encoded; text types as plain text.",
        ) from None


def media_part(ref: MediaRef) -> MediaPart:
    kind = kind_of(ref.media_type)
    if kind == "image":
        return ImagePart(ref)
    if kind == "audio":
        return AudioPart(ref)
    if kind == "video":
        return VideoPart(ref)
    return DocumentPart(ref)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One attachment of a turn, checked and not yet stored: a text
    attachment's ``text``, bytes to store (``normalized``), or media the caller
    stored before (``ref``)."""

    name: str
    mime: str
    text: str | None = None
    normalized: Normalized | None = None
    ref: MediaRef | None = None

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else kind_of(self.mime)


async def check_attachments(attachments: list[Attachment], media: MediaSink) -> list[Incoming]:
    """Read every attachment before anything is stored: a bad one (not base64,
    truncated, lying about its type, a bomb, too large, another user's media id)
    fails the turn with a clear error and leaves nothing behind."""
    out: list[Incoming] = []
    for att in attachments:
        if att.media_id:
            ref = media.info(att.media_id)
            if ref is None:
                raise NotFoundError(
                    f"No media {att.media_id[:16]!r} for attachment {att.name!r}.",
                    hint="Upload the file first (POST /v1/media); a media id is only "
                    "valid for the user who uploaded it.",
                )
            name = att.name or ref.name or ""
            if is_text_type(ref.media_type):
                # An uploaded text file joins the message as text, like one sent
                # inline, cut like text derived from a file.
                text = cut_text(media.get(ref).decode("utf-8", "replace"))
                out.append(Incoming(name, ref.media_type, text=text))
            else:
                out.append(Incoming(name, ref.media_type, ref=ref))
        elif is_text_type(att.mime):
            out.append(Incoming(att.name, att.mime, text=att.content))
        else:
            # deferred: type sniffing and the image libraries load for binary attachments only
            from muxi_cli.media.ingest import normalize

            data = _decode(att)
            claimed = att.mime.split(";", 1)[0].strip().lower() or None
            found = await asyncio.to_thread(normalize, data, att.name, claimed)
            out.append(Incoming(att.name, found.media_type, normalized=found))
    _check_room(out, media)
    return out


def _check_room(incoming: list[Incoming], media: MediaSink) -> None:
    """The store's per-file limit and the owner's quota, checked before the turn
    (the store checks again when it stores: this only makes the error early)."""
    new = 0
    for item in incoming:
        if item.normalized is None:
            continue
        size = len(item.normalized.data)
        if size > media.max_bytes:
            raise MediaTooLargeError(
                f"{item.name or 'An attachment'} is {size:,} bytes; media may be at most "
                f"{media.max_bytes:,} bytes.",
                hint="Send a smaller file (scale the image down, or split the document).",
            )
        if not media.has(_sha256(item.normalized.data)):
            new += size
    quota = media.quota_bytes
    if quota is not None and new and media.usage() + new > quota:
        raise MediaTooLargeError(
            f"These attachments ({new:,} bytes) would take you over your media quota "
            f"of {quota:,} bytes.",
            hint="Delete sessions you no longer need (their media go with them).",
        )


def store_attachments(
    message: str, incoming: list[Incoming], media: MediaSink
) -> tuple[list[Part], list[MediaRef]]:
    """The user message as stored and sent: one text part (the message and its
    text attachments as tagged blocks), then a media part per other attachment.
    If storing one fails, the files this call added are removed again."""
    blocks = [message] if message else []
    refs: list[MediaRef] = []
    added: list[str] = []
    try:
        for item in incoming:
            if item.text is not None:
                # The name and type come from the client: quoted, so neither can close
                # the tag and pose as text of the user's own message.
                name = html.escape(item.name, quote=True)
                mime = html.escape(item.mime, quote=True)
                blocks.append(
                    f'<attachment name="{name}" type="{mime}">\n{item.text}\n</attachment>'
                )
            elif item.ref is not None:
                refs.append(item.ref)
            elif item.normalized is not None:
                found = item.normalized
                new = not media.has(_sha256(found.data))
                ref = media.put(found.data, found.media_type, item.name or None, meta=found.meta)
                if new:
                    added.append(ref.id)
                refs.append(ref)
    except MuxiError:
        for media_id in added:
            media.delete(media_id)
        raise
    text = "\n\n".join(blocks)
    return [*([TextPart(text)] if text else []), *(media_part(r) for r in refs)], refs


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


async def extract_events(
    refs: list[MediaRef],
    media: MediaSink,
    factory: EventFactory,
    transcriber: Transcriber | None = None,
    video: tuple[float, int] | None = None,
    *,
    ocr: bool = True,
) -> AsyncIterator[Event]:
    """Extract what each stored attachment says (text, OCR, transcript, frames),
    cached under its id in ``media`` so it is done once and session search finds
    the text; one ``media.processed`` or ``media.failed`` event per attachment.

    ``ocr=False`` for a model that sees images itself: OCR costs seconds per
    image or scanned page before the first model call, for text that model
    does not need (a later turn with a model that does runs it then)."""
    for ref in refs:
        meta: dict[str, Any] = {"size": ref.size, "media_type": ref.media_type, **ref.meta}
        try:
            found = await extract_media(
                media.get(ref),
                ref.media_type,
                media_id=ref.id,
                cache=media,
                transcriber=transcriber,
                ocr=ocr,
                video=video,
            )
        except MuxiError as exc:
            yield factory.media_failed(ref.id, ref.name or "", exc.code, exc.message)
            continue
        except Exception as exc:  # a parser's own error on a damaged file
            log.warning("media %s not extracted", ref.id, exc_info=True)
            message = f"{ref.name or 'the file'} could not be read ({type(exc).__name__})"
            yield factory.media_failed(ref.id, ref.name or "", MediaError.code, message)
            continue
        yield factory.media_processed(
            ref.id, ref.name or "", ref.media_type, list(found.derived), meta
        )


# ----------------------------------------------------------------- tool results


def _decoded(items: list[dict[str, Any]]) -> list[tuple[bytes, str, str | None]]:
    out: list[tuple[bytes, str, str | None]] = []
    for item in items:
        try:
            data = base64.b64decode(str(item.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            continue  # the result's text already names it
        name = item.get("name")
        out.append((data, str(item.get("mime") or "image/png"), str(name) if name else None))
    return out


async def clean_tool_media(outcome: Any) -> None:
    """A tool outcome's media read for what they are, as attachments are: images
    upright and without their metadata (a GPS position never leaves the
    machine); what cannot be read is left out (the result's text names it)."""
    if not (outcome.images or getattr(outcome, "media", None)):
        return
    # deferred: type sniffing and the image libraries load only for tool media
    from muxi_cli.media.ingest import normalize

    def clean(items: list[dict[str, Any]]) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for data, mime, name in _decoded(items):
            try:
                found = normalize(data, name, mime)
            except MuxiError:
                continue
            item = {"mime": found.media_type, "data": base64.b64encode(found.data).decode()}
            out.append({**item, "name": name} if name else item)
        return out

    outcome.images = await asyncio.to_thread(clean, outcome.images)
    outcome.media = await asyncio.to_thread(clean, getattr(outcome, "media", []))


def tool_refs(items: list[dict[str, Any]], media: MediaSink) -> list[MediaRef | None]:
    """A tool result's media (base64 ``{"mime", "data", "name"?}`` from MCP),
    stored, one entry per decodable item; ``None`` for what is too large to
    keep (the text still names it)."""
    refs: list[MediaRef | None] = []
    for data, mime, name in _decoded(items):
        try:
            refs.append(media.put(data, mime, name))
        except UsageError:
            refs.append(None)
    return refs


def tool_result_parts(call_id: str, text: str, refs: list[MediaRef | None], ok: bool) -> list[Part]:
    """A tool result with its stored media as parts (video is kept as a document:
    a tool result holds text, images, documents and audio)."""
    inner: list[ResultPart] = [TextPart(text)] if text else []
    for ref in refs:
        if ref is None:
            continue
        part = media_part(ref)
        inner.append(DocumentPart(ref) if isinstance(part, VideoPart) else part)
    return [ToolResultPart(call_id, tuple(inner), not ok)]


def tool_media(
    items: list[dict[str, Any]], refs: list[MediaRef | None] | None = None
) -> tuple[Media, ...]:
    """A tool result's media for the model's next call in this turn (with the
    stored ids when stored, so derived forms are cached)."""
    out: list[Media] = []
    for i, (data, mime, name) in enumerate(_decoded(items)):
        ref = refs[i] if refs is not None and i < len(refs) else None
        kind = kind_of(mime)
        out.append(Media(kind, mime, data, name, ref.id if ref else None))  # type: ignore[arg-type]
    return tuple(out)


def outcome_media(outcome: Any) -> list[dict[str, Any]]:
    """Every media item of a tool outcome: its images, then its other media."""
    return [*outcome.images, *getattr(outcome, "media", [])]
