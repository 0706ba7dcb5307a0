"""A user's message and attachments as content parts; a tool's images as parts.

Text attachments (``text/*``, JSON, XML, YAML, ...) join the message text as
tagged blocks, as the model has always seen them. Any other attachment is
base64 in :class:`~muxi_cli.protocol.records.Attachment`; its bytes go to the
media store and the message holds an image, audio or document part.
"""

from __future__ import annotations

import base64
import binascii
import html
from typing import Any, Protocol

from muxi_cli.errors import UsageError
from muxi_cli.llm.base import Media
from muxi_cli.protocol.messages import (
    AudioPart,
    DocumentPart,
    ImagePart,
    MediaRef,
    Part,
    ResultPart,
    TextPart,
    ToolResultPart,
)
from muxi_cli.protocol.records import Attachment

_TEXT_TYPES = frozenset(
    {
        "application/json", "application/xml", "application/yaml", "application/x-yaml",
        "application/toml", "application/javascript", "application/x-sh", "application/sql",
    }
)  # fmt: skip


class MediaSink(Protocol):
    """The part of ``stores.media.MediaStore`` that stores bytes."""

    def put(self, data: bytes, media_type: str, name: str | None = None) -> MediaRef: ...


def is_text_type(mime: str) -> bool:
    mime = (mime or "text/plain").split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def _decode(att: Attachment) -> bytes:
    try:
        return base64.b64decode(att.content, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(
            f"Attachment {att.name!r} ({att.mime}) is not valid base64.",
            hint="Send a binary attachment's bytes base64-encoded; text types as plain text.",
        ) from None


def media_part(ref: MediaRef) -> ImagePart | AudioPart | DocumentPart:
    major = ref.media_type.split("/", 1)[0].lower()
    if major == "image":
        return ImagePart(ref)
    if major == "audio":
        return AudioPart(ref)
    return DocumentPart(ref)


def user_parts(message: str, attachments: list[Attachment], media: MediaSink) -> list[Part]:
    """The user message as stored and sent: one text part (the message and its
    text attachments as tagged blocks), then a media part per other attachment."""
    blocks = [message] if message else []
    stored: list[Part] = []
    for att in attachments:
        if is_text_type(att.mime):
            # The name and type come from the client: quoted, so neither can close
            # the tag and pose as text of the user's own message.
            name, mime = html.escape(att.name, quote=True), html.escape(att.mime, quote=True)
            blocks.append(f'<attachment name="{name}" type="{mime}">\n{att.content}\n</attachment>')
        else:
            mime = att.mime.split(";", 1)[0].strip().lower()
            stored.append(media_part(media.put(_decode(att), mime, att.name)))
    text = "\n\n".join(blocks)
    return [*([TextPart(text)] if text else []), *stored]


def tool_result_parts(
    call_id: str, text: str, images: list[dict[str, Any]], ok: bool, media: MediaSink
) -> list[Part]:
    """A tool result with its images (base64 ``{"mime", "data"}`` from MCP) stored."""
    inner: list[ResultPart] = [TextPart(text)] if text else []
    for data, mime in _images(images):
        try:
            ref = media.put(data, mime)
        except UsageError:
            continue  # too large to keep: the text still names it
        inner.append(ImagePart(ref))
    return [ToolResultPart(call_id, tuple(inner), not ok)]


def _images(images: list[dict[str, Any]]) -> list[tuple[bytes, str]]:
    out: list[tuple[bytes, str]] = []
    for image in images:
        try:
            data = base64.b64decode(str(image.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            continue  # the result's text already names the image
        out.append((data, str(image.get("mime") or "image/png")))
    return out


def image_media(images: list[dict[str, Any]]) -> tuple[Media, ...]:
    """A tool result's images for the model's next call in this turn."""
    return tuple(Media("image", mime, data) for data, mime in _images(images))
