"""PDFs, HTML and text to text (and page images where a PDF has no text layer).

PDFs are read with pdfium (pypdfium2), within limits that stop PDF bombs
before they cost time or memory: the number of objects the file declares, the
number of pages, the pixels a page is rendered at, the pages OCRed and the
page images kept. pdfium is not thread-safe: every call into it holds
``PDFIUM_LOCK`` (OCR runs outside it).

Texts of several pages carry a ``[page N]`` line before each page, so a model
can cite pages and knowledge ingestion can cut sections.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MediaError
from muxi_cli.media.types import Extracted, Meta

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

PDFIUM_LOCK = threading.Lock()
#: More pages than this is refused (a bomb repeats one page object millions of times).
MAX_PDF_PAGES = 2000
#: A page drawing more objects than this, counting each use of a form XObject
#: (a form drawn 10 times, each drawing the next 10 times, ...) is not read:
#: pdfium's text page for it costs GBs. Counting them is cheap.
MAX_PAGE_OBJECTS = 50_000
_MAX_FORM_DEPTH = 64
#: More objects than this (the trailer's ``/Size``) is refused before pdfium parses.
MAX_PDF_OBJECTS = 1_000_000
#: Pages without a text layer OCRed for an attachment (about 2-5 s a page on
#: two cores); the rest are named as not read. Knowledge ingestion reads all.
MAX_OCR_PAGES = 50
#: Page images kept for vision models (JPEG).
MAX_PAGE_IMAGES = 20
#: A rendered page never exceeds this many pixels, whatever its declared size.
MAX_RENDER_PIXELS = 4_000_000
RENDER_DPI = 150
#: A page whose text layer has fewer characters than this is treated as scanned,
#: and so is a page mostly covered by images with a short text layer (a scan
#: with a stamped header or page number).
MIN_PAGE_CHARS = 16
SCAN_WITH_TEXT_CHARS = 200
_SIZE_RE = re.compile(rb"/Size\s+(\d{1,12})")


def page_header(number: int) -> str:
    return f"[page {number}]"


def _open_pdf(data: bytes, who: str) -> Any:
    """A ``PdfDocument`` (call with ``PDFIUM_LOCK`` held)."""
    import pypdfium2 as pdfium  # deferred: pdfium's bindings cost ~60 ms

    declared = max((int(m) for m in _SIZE_RE.findall(data)), default=0)
    if declared > MAX_PDF_OBJECTS:
        raise MediaError(
            f"{who} declares {declared:,} objects (the limit is {MAX_PDF_OBJECTS:,})",
            "this looks like a PDF bomb; split the document or print it to a new PDF",
        )
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise MediaError(
                f"{who} is encrypted (it needs a password)",
                "remove the password (print to a new PDF, or qpdf --decrypt) and attach it again",
            ) from exc
        raise MediaError(
            f"{who} is a damaged PDF document ({exc})", "open it, save a new copy, try again"
        ) from exc
    pages = len(pdf)
    if pages > MAX_PDF_PAGES:
        pdf.close()
        raise MediaError(
            f"{who} has {pages:,} pages (the limit is {MAX_PDF_PAGES:,})",
            "split the document into smaller files",
        )
    return pdf


def pdf_meta(data: bytes, who: str = "the PDF") -> Meta:
    """``{"pages": n}`` once the PDF opened within the limits."""
    from muxi_cli.media.pdfprobe import probe  # deferred: subprocess, only for PDFs

    probe(data, who)
    with PDFIUM_LOCK:
        pdf = _open_pdf(data, who)
        try:
            pages = len(pdf)
            if pages:
                page = pdf[0]
                try:
                    if _too_complex(page):
                        raise _complex_error(who, 1)
                finally:
                    page.close()
            return {"pages": pages}
        except pdfium_error() as exc:
            raise MediaError(
                f"{who} is a damaged PDF document ({exc})", "open it, save a new copy, try again"
            ) from exc
        finally:
            pdf.close()


def _too_complex(page: Any) -> bool:
    """Whether ``page`` draws more than ``MAX_PAGE_OBJECTS`` objects (lock held)."""
    for count, _obj in enumerate(page.get_objects(max_depth=_MAX_FORM_DEPTH), 1):
        if count > MAX_PAGE_OBJECTS:
            return True
    return False


def _complex_error(who: str, number: int) -> MediaError:
    return MediaError(
        f"{who}: page {number} is too complex to read (over {MAX_PAGE_OBJECTS:,} drawn objects)",
        "this looks like a PDF bomb; print the document to a new PDF",
    )


def _render(page: Any) -> Image:
    width, height = page.get_size()
    scale = RENDER_DPI / 72
    area = max(width * height, 1.0)
    if area * scale * scale > MAX_RENDER_PIXELS:  # absurd page sizes render small
        scale = (MAX_RENDER_PIXELS / area) ** 0.5
    image: Image = page.render(scale=scale).to_pil()
    return image


def _jpeg(image: Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def _mostly_image(page: Any) -> bool:
    """Whether images cover at least half of the page (call with the lock held)."""
    import pypdfium2.raw as pdfium_c  # deferred: with pypdfium2

    width, height = page.get_size()
    covered = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_pos()
        covered += max(0.0, min(right, width) - max(left, 0.0)) * max(
            0.0, min(top, height) - max(bottom, 0.0)
        )
    return covered >= 0.5 * width * height


class _TooComplex(Exception):
    pass


def pdfium_error() -> type[Exception]:
    import pypdfium2 as pdfium  # deferred: pdfium's bindings cost ~60 ms

    error: type[Exception] = pdfium.PdfiumError
    return error


def _read_page(pdf: Any, index: int, render: bool) -> tuple[str, Image | None]:
    """A page's text layer, and its rendering when it has none and ``render``
    (a ``PdfiumError`` when pdfium cannot load the page, ``_TooComplex`` when
    it draws too many objects)."""
    with PDFIUM_LOCK:
        page = pdf[index]
        try:
            if _too_complex(page):
                raise _TooComplex
            textpage = page.get_textpage()
            text: str = textpage.get_text_bounded().replace("\r\n", "\n").strip()
            textpage.close()
            scanned = len(text) < MIN_PAGE_CHARS or (
                len(text) < SCAN_WITH_TEXT_CHARS and _mostly_image(page)
            )
            return text, (_render(page) if scanned and render else None)
        finally:
            page.close()


def pdf_extract(
    data: bytes, *, ocr: bool, who: str = "the PDF", max_ocr_pages: int = MAX_OCR_PAGES
) -> Extracted:
    """The text layer of each page; pages without one are rendered, OCRed
    (when ``ocr``, at most ``max_ocr_pages``) and kept as JPEG page images
    (at most ``MAX_PAGE_IMAGES``). One rendered page is in memory at a time."""
    from muxi_cli.media.pdfprobe import probe  # deferred: subprocess, only for PDFs

    probe(data, who)
    with PDFIUM_LOCK:
        pdf = _open_pdf(data, who)
        count = len(pdf)
    texts: list[str] = []
    images: list[tuple[bytes, str]] = []
    unread: list[int] = []
    damaged: list[int] = []
    complex_pages: list[int] = []
    ocred = 0
    try:
        for index in range(count):
            want_ocr = ocr and ocred < max_ocr_pages
            try:
                text, image = _read_page(pdf, index, want_ocr or len(images) < MAX_PAGE_IMAGES)
            except _TooComplex:
                log.info("%s: page %d too complex to read", who, index + 1)
                complex_pages.append(index + 1)
                texts.append("")
                continue
            except pdfium_error() as exc:
                log.info("%s: page %d unreadable: %s", who, index + 1, exc)
                damaged.append(index + 1)
                texts.append("")
                continue
            if image is not None and want_ocr:
                from muxi_cli.media.ocr import ocr_image  # deferred: onnxruntime, models

                found = ocr_image(image)
                ocred += 1
                text = found if len(found) > len(text) else text
            elif len(text) < MIN_PAGE_CHARS and ocr:
                unread.append(index + 1)
            if image is not None and len(images) < MAX_PAGE_IMAGES:
                images.append((_jpeg(image), "image/jpeg"))
            texts.append(text)
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    derived = ["text"] if any(texts) else []
    if ocred:
        derived.append("ocr")
    if images:
        derived.append("pages")
    if damaged and len(damaged) == count:
        raise MediaError(
            f"{who} is a damaged PDF document (no page could be read)",
            "open it, save a new copy, try again",
        )
    body = "\n\n".join(f"{page_header(n)}\n{t}" for n, t in enumerate(texts, 1) if t)
    if complex_pages and len(complex_pages) + len(damaged) == count:
        raise _complex_error(who, complex_pages[0])
    for number in damaged:
        body += f"\n\n[page {number} unreadable]"
    for number in complex_pages:
        body += f"\n\n[page {number} is too complex to read]"
    if unread:
        body += f"\n\n[pages not read: {_ranges(unread)} (OCR stops at {max_ocr_pages} pages)]"
    return Extracted(body.strip(), tuple(images), tuple(derived))


def _ranges(numbers: list[int]) -> str:
    first, last = numbers[0], numbers[-1]
    return str(first) if first == last else f"{first}-{last}"


def html_text(data: bytes) -> str:
    from bs4 import BeautifulSoup  # deferred: BeautifulSoup is slow to import

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    text = soup.get_text("\n")
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def plain_text(data: bytes) -> str:
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    return data.decode(encoding, errors="replace").replace("\r\n", "\n")
