"""Bytes in: size limit, type from the bytes, validation and cleaning, then text.

- :func:`read_limited` reads a file or stream only when it is within
  :data:`MAX_INPUT_BYTES` (a 2 GB file is refused by its size, unread).
- :func:`sniff` tells the type from the bytes (see ``media.sniff``).
- :func:`normalize` checks and cleans what will be stored: images decoded,
  turned upright and stripped of metadata; PDFs and office files opened
  within their bomb limits; audio and video probed (``media.av``).
- :func:`extract` turns a stored file into text (and page images) once,
  keeping the result in a :class:`DerivedCache` under the media's id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import BinaryIO

from muxi_cli import parts
from muxi_cli.errors import MediaError, MediaTooLargeError
from muxi_cli.media import sniff as _sniff
from muxi_cli.media.types import DerivedCache, Extracted, Normalized, Transcriber

#: The largest file muxi takes in: the media store's per-file limit
#: (``stores.media.DEFAULT_MAX_BYTES``; a test keeps the two equal).
MAX_INPUT_BYTES = 20 * 1024 * 1024
#: The cache key of the extraction's manifest (what was derived, which images).
MANIFEST_KEY = "extract.json"
TEXT_KEY = "text"

sniff = _sniff.sniff
log = logging.getLogger(__name__)


def _too_large(who: str, size: int | None, limit: int) -> MediaTooLargeError:
    shown = f"{size / 1e6:,.1f} MB" if size is not None else "more than that"
    return MediaTooLargeError(
        f"{who} is {shown}; the limit is {limit / 1e6:,.1f} MB",
        "send a smaller file (scale an image down, split a document, trim a recording)",
    )


def read_limited(source: str | Path | BinaryIO, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a file (a path) or a stream (stdin), refusing more than ``limit``.

    A regular file is refused by its size before a byte is read; a stream is
    read to at most ``limit + 1`` bytes, so a pipe that never ends costs no
    more than the limit.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            size = path.stat().st_size
            if path.is_file() and size > limit:
                raise _too_large(path.name, size, limit)
            with path.open("rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from exc
        who = path.name
    else:
        data = source.read(limit + 1)
        who = str(getattr(source, "name", "the input"))
    if len(data) > limit:  # a pipe, or a file that grew while we read it
        raise _too_large(who, None, limit)
    return data


def _who(name: str | None, media_type: str) -> str:
    return name or f"the {_sniff.label(media_type).split(' ', 1)[1]}"


def normalize(data: bytes, name: str | None = None, claimed: str | None = None) -> Normalized:
    """:func:`_normalize`, with a missing media package named as the extra to install."""
    try:
        return _normalize(data, name, claimed)
    except ModuleNotFoundError as exc:
        raise _missing(exc, name) from None


def _missing(exc: ModuleNotFoundError, name: str | None) -> Exception:
    """The error for an attachment whose reader is in a part that is not installed."""
    error = parts.missing_part_error(exc, f"reading {name or 'this attachment'}")
    return error if error is not None else exc


def _normalize(data: bytes, name: str | None = None, claimed: str | None = None) -> Normalized:
    """What to store: the real type, checked (and for images cleaned) bytes, meta.

    A :class:`MediaError` when the file is empty, lies about its type, is
    damaged, is a bomb, or is of a kind muxi does not read;
    :class:`MediaTooLargeError` over :data:`MAX_INPUT_BYTES`.
    """
    who = name or "the upload"
    if len(data) > MAX_INPUT_BYTES:
        raise _too_large(who, len(data), MAX_INPUT_BYTES)
    if not data:
        raise MediaError(f"{who} is empty", "attach a file with something in it")
    media_type = sniff(data, name, claimed)
    who = _who(name, media_type)
    if media_type.startswith("image/"):
        from muxi_cli.media.images import clean_image

        return clean_image(data, media_type, who)
    if media_type == "application/pdf":
        from muxi_cli.media.documents import pdf_meta

        return Normalized(data, media_type, pdf_meta(data, who))
    if media_type in _sniff.OFFICE:
        from muxi_cli.media.office import office_meta

        return Normalized(data, media_type, office_meta(data, media_type, who))
    if media_type in _sniff.TEXT_TYPES:
        return Normalized(data, media_type, {})
    if media_type.startswith(("audio/", "video/")):
        from muxi_cli.media.av import probe  # the av lane's module: ffmpeg behind it

        return Normalized(data, media_type, probe(data, media_type))
    raise MediaError(
        f"{who} is {_sniff.label(media_type)}",
        "attach images, PDFs, Word, PowerPoint or Excel files, text, audio or video",
    )


def extract_sync(
    data: bytes, media_type: str, *, ocr: bool = True, max_ocr_pages: int | None = None
) -> Extracted:
    """:func:`_extract_sync`, with a missing media package named as the extra to install."""
    try:
        return _extract_sync(data, media_type, ocr=ocr, max_ocr_pages=max_ocr_pages)
    except ModuleNotFoundError as exc:
        raise _missing(exc, _sniff.label(media_type)) from None


def _extract_sync(
    data: bytes, media_type: str, *, ocr: bool = True, max_ocr_pages: int | None = None
) -> Extracted:
    """Text (and page images) of a document, text file or image, in this thread.

    The work :func:`extract` runs in a worker thread, for callers already off
    the event loop (knowledge ingestion, which OCRs every page of a scan:
    ``max_ocr_pages``). Audio and video are not read here.
    """
    if media_type == "application/pdf":
        from muxi_cli.media.documents import MAX_OCR_PAGES, pdf_extract

        return pdf_extract(data, ocr=ocr, max_ocr_pages=max_ocr_pages or MAX_OCR_PAGES)
    if media_type in _sniff.OFFICE:
        from muxi_cli.media.office import office_text

        text = office_text(data, media_type, _who(None, media_type))
        return Extracted(text, (), ("text",) if text else ())
    if media_type == "text/html":
        from muxi_cli.media.documents import html_text

        return Extracted(html_text(data), (), ("text",))
    if media_type in _sniff.TEXT_TYPES:
        from muxi_cli.media.documents import plain_text

        return Extracted(plain_text(data), (), ("text",))
    if media_type.startswith("image/"):
        if not ocr:
            return Extracted()
        from muxi_cli.media.images import open_image
        from muxi_cli.media.ocr import ocr_image

        text = ocr_image(open_image(data, media_type, _who(None, media_type)))
        return Extracted(text, (), ("ocr",) if text else ())
    raise MediaError(f"muxi cannot read text from {_sniff.label(media_type)}")


def _cached(media_id: str, cache: DerivedCache, ocr: bool) -> Extracted | None:
    raw = cache.get_derived(media_id, MANIFEST_KEY)
    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
        if ocr and not manifest.get("ocr"):
            return None  # read without OCR before: a scan's text is still missing
        text = (cache.get_derived(media_id, TEXT_KEY) or b"").decode("utf-8")
        images = []
        for key, kind in manifest.get("images", []):
            blob = cache.get_derived(media_id, key)
            if blob is None:
                return None
            images.append((blob, kind))
        return Extracted(text, tuple(images), tuple(manifest.get("derived", ())))
    except (ValueError, TypeError, AttributeError):
        return None  # a manifest from another version: derive again


def _store(media_id: str, cache: DerivedCache, found: Extracted, ocr: bool) -> None:
    keys = []
    for number, (blob, kind) in enumerate(found.images, start=1):
        suffix = "jpg" if kind == "image/jpeg" else kind.rsplit("/", 1)[-1]
        key = f"page-{number:04d}.{suffix}"
        cache.put_derived(media_id, key, blob)
        keys.append((key, kind))
    cache.put_derived(media_id, TEXT_KEY, found.text.encode("utf-8"))
    manifest = {"ocr": ocr, "derived": list(found.derived), "images": keys}
    # The manifest last: a crash before it leaves no half-cached extraction.
    cache.put_derived(media_id, MANIFEST_KEY, json.dumps(manifest).encode())


async def extract(
    data: bytes,
    media_type: str,
    *,
    media_id: str | None = None,
    cache: DerivedCache | None = None,
    transcriber: Transcriber | None = None,
    ocr: bool = True,
) -> Extracted:
    """What a file says: documents' text (OCR for scanned pages, and their page
    images), images' text (OCR, when ``ocr``), audio transcripts and video
    frames (``media.av.extract_av``). With ``media_id`` and ``cache`` the
    result is kept (keys ``text``, ``page-0001.jpg``, ...) and a second call
    does no work."""
    if media_id and cache is not None:
        hit = await asyncio.to_thread(_cached, media_id, cache, ocr)
        if hit is not None:
            return hit
    if media_type.startswith(("audio/", "video/")):
        # extract_av caches its own forms (transcript, frames) under media_id.
        try:
            from muxi_cli.media.av import extract_av  # the av lane's module

            return await extract_av(
                data, media_type, media_id=media_id, cache=cache, transcriber=transcriber
            )
        except ModuleNotFoundError as exc:
            raise _missing(exc, _sniff.label(media_type)) from None
    found = await asyncio.to_thread(extract_sync, data, media_type, ocr=ocr)
    if media_id and cache is not None:
        try:
            await asyncio.to_thread(_store, media_id, cache, found, ocr)
        except MediaError as exc:  # a form over the store's limit: the text still counts
            log.warning("media %s: derived forms not cached: %s", media_id, exc.message)
    return found
