"""Turn knowledge files into text sections: Markdown, text, PDF, HTML and docx.

Each reader returns ``[(label, text)]``: one section per PDF page (``page3``),
one section (label ``""``) for the other formats.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from muxi_cli.errors import MemoryStoreError

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".rst", ".csv", ".json", ".yaml", ".yml"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
MAX_FILE_BYTES = 50_000_000

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
        if suffix == ".pdf":
            return _pdf(path)
        if suffix in HTML_SUFFIXES:
            return [("", _html(path.read_bytes()))]
        if suffix == ".docx":
            return [("", _docx(path))]
        return [("", path.read_text(encoding="utf-8", errors="replace"))]
    except MemoryStoreError:
        raise
    except Exception as exc:
        raise MemoryStoreError(
            f"cannot read knowledge file {path}: {type(exc).__name__}: {exc}",
            "check that the file is a valid document of its type, or remove it from knowledge",
        ) from exc


def _pdf(path: Path) -> list[Section]:
    from pypdf import PdfReader  # deferred: pypdf is slow to import

    reader = PdfReader(str(path))
    sections = []
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text() or ""
        if text.strip():
            sections.append((f"page{number}", text))
    return sections


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup  # deferred: BeautifulSoup is slow to import

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    text = soup.get_text("\n")
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(path: Path) -> str:
    """Paragraph text of a .docx (its ``word/document.xml``), no extra dependency."""
    import xml.etree.ElementTree as ET  # deferred: xml is slow to import

    with zipfile.ZipFile(path) as archive:
        xml = archive.read("word/document.xml")
    root = ET.fromstring(xml)
    paragraphs = []
    for para in root.iter(f"{_W}p"):
        pieces = []
        for node in para.iter():
            if node.tag == f"{_W}t" and node.text:
                pieces.append(node.text)
            elif node.tag == f"{_W}tab":
                pieces.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                pieces.append("\n")
        paragraphs.append("".join(pieces))
    return "\n\n".join(p for p in paragraphs if p.strip())


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
