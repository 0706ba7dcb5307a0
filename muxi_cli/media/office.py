"""Word, PowerPoint and Excel files (docx, pptx, xlsx): zip-bomb checks, then text.

An office file is a ZIP archive. Before any XML is parsed, its directory is
checked: the number of entries, the total uncompressed size and each large
entry's compression ratio. The declared sizes are enough: Python's zipfile
(which python-docx, python-pptx and openpyxl read through) never inflates an
entry past its declared size, so a lying header fails, it cannot blow up.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from typing import Any

from muxi_cli.errors import MediaError
from muxi_cli.media.sniff import DOCX, PPTX, XLSX
from muxi_cli.media.types import Meta

MAX_ENTRIES = 10_000
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
#: An entry larger than ``RATIO_FLOOR`` that compressed better than this is a bomb.
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
#: One part (document.xml, a sheet, a slide) unpacking to more than this is
#: refused: the readers build the whole tree (an 8 MB document.xml costs ~275 MB).
MAX_PART_BYTES = 8 * 1024 * 1024
#: Rows read per sheet, and cells in all (a sheet can declare a million rows).
MAX_ROWS = 1000
MAX_CELLS = 200_000
#: Rows looked at per sheet, empty ones included (a sheet can declare a
#: million empty rows before one cell), and columns read per row.
MAX_SCANNED_ROWS = 10 * MAX_ROWS
MAX_COLUMNS = 256
_BOMB_HINT = "this looks like a zip bomb; open the file and save a new copy"


def check_zip(data: bytes, who: str) -> None:
    """A :class:`MediaError` when the archive is damaged or a zip bomb."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise MediaError(f"{who} is a damaged archive ({exc})", "save a new copy") from exc
    if len(entries) > MAX_ENTRIES:
        raise MediaError(f"{who} holds {len(entries):,} files (limit {MAX_ENTRIES:,})", _BOMB_HINT)
    total = sum(e.file_size for e in entries)
    if total > MAX_UNZIPPED_BYTES:
        raise MediaError(
            f"{who} unpacks to {total / 1e6:,.0f} MB (limit {MAX_UNZIPPED_BYTES / 1e6:,.0f} MB)",
            _BOMB_HINT,
        )
    for entry in entries:
        if entry.filename.lower().endswith((".xml", ".rels")) and entry.file_size > MAX_PART_BYTES:
            raise MediaError(
                f"{who}: {entry.filename} unpacks to {entry.file_size / 1e6:,.0f} MB "
                f"(limit {MAX_PART_BYTES / 1e6:,.0f} MB a part)",
                "split the document into smaller files",
            )
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise MediaError(
                f"{who}: {entry.filename} unpacks {ratio:,.0f} times its size (limit {MAX_RATIO})",
                _BOMB_HINT,
            )


def _open(data: bytes, media_type: str, who: str) -> Any:
    check_zip(data, who)
    try:
        if media_type == DOCX:
            from docx import Document  # deferred: python-docx and lxml

            return Document(io.BytesIO(data))
        if media_type == PPTX:
            from pptx import Presentation  # deferred: python-pptx and lxml

            return Presentation(io.BytesIO(data))
        from openpyxl import load_workbook  # deferred: openpyxl

        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except MediaError:
        raise
    except Exception as exc:  # each library has its own errors for a broken file
        raise _unreadable(who, exc) from exc


def _unreadable(who: str, exc: Exception) -> MediaError:
    return MediaError(
        f"{who} cannot be read: {type(exc).__name__}: {exc}",
        "open it in its application, save a new copy and attach that",
    )


def _app_pages(data: bytes) -> int | None:
    """The page count Word saved in ``docProps/app.xml``, when it did."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            xml = archive.read("docProps/app.xml")[:65536]
        except KeyError:
            return None
    found = re.search(rb"<(?:\w+:)?Pages>(\d+)<", xml)
    return int(found.group(1)) if found else None


def office_meta(data: bytes, media_type: str, who: str) -> Meta:
    """Opens the file within the limits; ``pages`` (slides) when known."""
    doc = _open(data, media_type, who)
    if media_type == PPTX:
        return {"pages": len(doc.slides)}
    if media_type == XLSX:
        doc.close()
        return {}
    pages = _app_pages(data)
    return {"pages": pages} if pages else {}


def office_text(data: bytes, media_type: str, who: str) -> str:
    doc = _open(data, media_type, who)
    try:
        if media_type == DOCX:
            return _docx(doc)
        if media_type == PPTX:
            return _pptx(doc)
        try:
            return _xlsx(doc)
        finally:
            doc.close()
    except MediaError:
        raise
    except Exception as exc:  # the readers parse lazily: a broken part fails here
        raise _unreadable(who, exc) from exc


def _table(rows: list[list[str]]) -> str:
    return "\n".join(" | ".join(cell.strip() for cell in row) for row in rows)


def _docx(doc: Any) -> str:
    """Paragraphs and tables in document order."""
    from docx.table import Table  # deferred: python-docx

    parts = []
    for block in doc.iter_inner_content():
        if isinstance(block, Table):
            parts.append(_table([[c.text for c in row.cells] for row in block.rows]))
        elif block.text.strip():
            parts.append(block.text)
    return "\n\n".join(parts).strip()


def _shape_texts(shapes: Any) -> list[str]:
    out = []
    for shape in shapes:
        if shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP: read what it holds
            out.extend(_shape_texts(shape.shapes))
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            out.append(_table(rows))
        elif shape.has_text_frame and shape.text_frame.text.strip():
            out.append(shape.text_frame.text)
    return out


def _pptx(prs: Any) -> str:
    """Each slide's texts, then its speaker notes."""
    slides = []
    for number, slide in enumerate(prs.slides, start=1):
        texts = _shape_texts(slide.shapes)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                texts.append(f"Notes: {notes.text.strip()}")
        slides.append(f"[slide {number}]\n" + "\n".join(texts))
    return "\n\n".join(slides).strip()


def _xlsx(book: Any) -> str:
    """Each sheet as CSV, empty rows left out, at most ``MAX_ROWS`` rows a sheet
    (of the first ``MAX_SCANNED_ROWS``) and ``MAX_COLUMNS`` columns."""
    sheets = []
    cells = 0
    for sheet in book.worksheets:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        rows = 0
        scanned = 0
        more = False
        for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
            if scanned >= MAX_SCANNED_ROWS:
                more = True
                break
            scanned += 1
            values = ["" if v is None else str(v) for v in row]
            while values and values[-1] == "":
                values.pop()
            if not values:
                continue
            if rows >= MAX_ROWS or cells + len(values) > MAX_CELLS:
                more = True
                break
            writer.writerow(values)
            rows += 1
            cells += len(values)
        text = out.getvalue().rstrip("\n")
        if more:
            text += f"\n[rows after {rows} not read]"
        sheets.append(f"[sheet {sheet.title}]\n{text}")
    return "\n\n".join(sheets).strip()
