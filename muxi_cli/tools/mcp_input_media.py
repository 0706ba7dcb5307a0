"""The content of an MCP sampling request, as muxi's messages: text, images, audio.

A sampling message's content is one block or a list of blocks (MCP 2025-11-25).
Text blocks join into the message's text; image and audio blocks (base64 with
a claimed type) are decoded, bounded and checked the way a user's attachment is
(``media.ingest.normalize``: the real type from the bytes, an image re-encoded
without its metadata, audio probed), so a server cannot smuggle another kind
of file, a damaged one or a bomb to the model. Tool use and tool results are
refused: muxi does not run tools inside a sampling request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from typing import Any

from mcp_types import AudioContent, ImageContent, TextContent

from muxi_cli.errors import MuxiError
from muxi_cli.tools.mcp_input import SampleMedia

#: The most media bytes (decoded, all blocks together) one sampling request may send.
SAMPLING_MEDIA_MAX = 20 * 1024 * 1024
#: The most image and audio blocks one sampling request may send.
SAMPLING_MEDIA_COUNT_MAX = 16


class UnfitSampling(Exception):
    """A sampling request muxi refuses to forward (its message says why)."""


def _blocks(content: Any) -> list[Any]:
    return list(content) if isinstance(content, Sequence) else [content]


def split_messages(
    messages: Sequence[Any],
) -> tuple[list[tuple[str, str]], list[tuple[int, str, str, str]]]:
    """``(role, text)`` per message, and its media blocks as ``(message index,
    kind, claimed type, base64 data)``; :class:`UnfitSampling` for blocks muxi
    does not take, for too many blocks and for base64 over the size cap (before
    anything is decoded)."""
    texts: list[tuple[str, str]] = []
    media: list[tuple[int, str, str, str]] = []
    encoded = 0
    for index, message in enumerate(messages):
        parts: list[str] = []
        for block in _blocks(message.content):
            if isinstance(block, TextContent):
                parts.append(block.text)
            elif isinstance(block, ImageContent | AudioContent):
                if message.role != "user":
                    # Models take media from the user's side of a conversation only.
                    raise UnfitSampling("images and audio are taken in user messages only")
                media.append((index, block.type, block.mime_type, block.data))
                encoded += len(block.data)
            else:
                raise UnfitSampling("sampling messages may hold text, images and audio only")
        texts.append((message.role, "\n\n".join(parts)))
    if len(media) > SAMPLING_MEDIA_COUNT_MAX:
        raise UnfitSampling(
            f"sampling requests with more than {SAMPLING_MEDIA_COUNT_MAX} images "
            "or audio clips are refused"
        )
    if encoded * 3 // 4 > SAMPLING_MEDIA_MAX:
        raise UnfitSampling(_too_large())
    return texts, media


def _too_large() -> str:
    return f"sampling media over {SAMPLING_MEDIA_MAX // (1024 * 1024)} MB are refused"


def _checked(index: int, kind: str, claimed: str, encoded: str) -> SampleMedia:
    """One block's bytes, decoded and checked like an attachment (blocking: a thread)."""
    # deferred: the media readers (Pillow, ffmpeg's probe) load only for media
    from muxi_cli.media.ingest import normalize

    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UnfitSampling(f"the {kind} of a sampling message is not base64") from None
    try:
        found = normalize(data, f"the sampled {kind}", claimed)
    except MuxiError as exc:
        raise UnfitSampling(exc.message) from None
    if not found.media_type.startswith(f"{kind}/"):
        raise UnfitSampling(f"the sampled {kind} is {found.media_type}, not an {kind}")
    return SampleMedia(index, kind, found.media_type, found.data)  # type: ignore[arg-type]


async def decode_media(blocks: list[tuple[int, str, str, str]]) -> tuple[SampleMedia, ...]:
    """The media blocks of :func:`split_messages`, decoded and checked."""
    out: list[SampleMedia] = []
    size = 0
    for block in blocks:
        item = await asyncio.to_thread(_checked, *block)
        size += len(item.data)
        if size > SAMPLING_MEDIA_MAX:  # a cleaned image may be larger than its original
            raise UnfitSampling(_too_large())
        out.append(item)
    return tuple(out)
