"""The shapes the media modules pass between each other and to their callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: What is known of a file's content: ``width``/``height`` (pixels), ``pages``,
#: ``duration`` (seconds); the same keys as ``MediaRef.meta``.
Meta = dict[str, int | float]


@dataclass(frozen=True, slots=True)
class Normalized:
    """An upload after :func:`muxi_cli.media.ingest.normalize`: the bytes to
    store (an image re-encoded without its metadata), their real type, what
    is known of them."""

    data: bytes
    media_type: str
    meta: Meta = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a file says, for models that cannot take the file itself, for
    session search and for memory extraction.

    ``text``: the text layer, OCR or transcript; ``images``: page images of a
    scanned document or sampled video frames, as ``(bytes, media type)``;
    ``derived``: labels of what was done (``text``, ``ocr``, ``pages``,
    ``transcript``, ``frames``), as reported in ``media.processed``.
    """

    text: str = ""
    images: tuple[tuple[bytes, str], ...] = ()
    derived: tuple[str, ...] = ()


class DerivedCache(Protocol):
    """Derived forms of stored media (resized images, text, transcripts,
    frames), keyed by the media's id and a key naming the form and its
    parameters, so the same file is never processed twice."""

    def get_derived(self, media_id: str, key: str) -> bytes | None: ...

    def put_derived(self, media_id: str, key: str, data: bytes) -> None: ...


class Transcriber(Protocol):
    """Speech to text (a provider's ``/v1/audio/transcriptions``)."""

    async def transcribe(self, data: bytes, media_type: str, name: str | None = None) -> str: ...
