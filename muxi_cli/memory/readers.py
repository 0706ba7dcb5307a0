"""Turn knowledge files into text sections: Markdown, text, HTML, PDF, Word,
PowerPoint, Excel and images.

Documents and images are read by the media module (``media.ingest``): the
type comes from the bytes, bomb limits apply, scanned PDF pages and images are
OCRed, so a scan is as searchable as a typed page. Each reader returns
``[(label, text)]``: one section per PDF page (``page3``), slide (``slide2``)
or sheet (``sheet1``); one section (label ``""``) for the other formats.
"""

from __future__ import annotations

import re
from pathlib import Path

from muxi_cli.errors import MediaError, MemoryStoreError

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".rst", ".csv", ".json", ".yaml", ".yml"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
#: Read through ``media.ingest`` (OCR for images and scanned pages).
MEDIA_SUFFIXES = {
    ".pdf", ".docx", ".pptx", ".xlsx",
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".tif", ".tiff", ".bmp",
}  # fmt: skip
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | MEDIA_SUFFIXES
MAX_FILE_BYTES = 50_000_000
_SECTION_RE = re.compile(r"^\[(page|slide|sheet) ([^\]\n]+)\]$", re.MULTILINE)

Section = tuple[str, str]


def supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def read_sections(path: Path) -> list[Section]:
    suffix = path.suffix.lower()
    if path.stat().st_size > MAX_FILE_BYTES:
        raise MemoryStoreError(
            f"{path} is larger than {MAX_FILE_BYTES // 1_000_000} MB",
            "split it into smaller files or leave it out of the agent's knowledge",
        )
    try:
        if suffix in MEDIA_SUFFIXES:
            return _media(path)
        if suffix in HTML_SUFFIXES:
            from muxi_cli.media.documents import html_text

            return [("", html_text(path.read_bytes()))]
        return [("", path.read_text(encoding="utf-8", errors="replace"))]
    except MemoryStoreError:
        raise
    except MediaError as exc:
        raise MemoryStoreError(
            f"cannot read knowledge file {path}: {exc.message}",
            exc.hint or "check that the file is a valid document of its type",
        ) from exc
    except Exception as exc:
        raise MemoryStoreError(
            f"cannot read knowledge file {path}: {type(exc).__name__}: {exc}",
            "check that the file is a valid document of its type, or remove it from knowledge",
        ) from exc


def _media(path: Path) -> list[Section]:
    """A document's or image's text by ``media.ingest``, cut at its page,
    slide and sheet headers (``[page 3]`` becomes the section ``page3``)."""
    from muxi_cli.media.documents import MAX_PDF_PAGES
    from muxi_cli.media.ingest import extract_sync, read_limited, sniff

    data = read_limited(path, MAX_FILE_BYTES)
    media_type = sniff(data, path.name)
    # Every scanned page: ingestion runs in the background and is done once.
    text = extract_sync(data, media_type, ocr=True, max_ocr_pages=MAX_PDF_PAGES).text
    headers = list(_SECTION_RE.finditer(text))
    if not headers:
        return [("", text)] if text.strip() else []
    sections = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body = text[header.end() : end].strip()
        kind, name = header.group(1), header.group(2)
        label = f"{kind}{name}" if kind != "sheet" else f"sheet{index + 1}"
        if body:
            sections.append((label, body))
    return sections


def chunk_text(text: str, max_chars: int = 1000, overlap: int = 150) -> list[str]:
    """Split ``text`` into chunks of at most ``max_chars``, overlapping by about ``overlap``.

    Splits prefer paragraph breaks, then sentence ends, then spaces.
    """
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_chars)
        if end < len(text):
            window = text[start:end]
            floor = max_chars // 2
            for sep in ("\n\n", "\n", ". ", "? ", "! ", " "):
                at = window.rfind(sep)
                if at >= floor:
                    end = start + at + len(sep)
                    break
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        next_start = max(end - overlap, start + 1)
        # Begin the overlap at a word boundary.
        space = text.find(" ", next_start, end)
        start = space + 1 if space != -1 else next_start
    return chunks
