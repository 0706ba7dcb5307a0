"""Review of issue 16: spreadsheets that crash or hang the office reader."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from muxi_cli.errors import MediaError
from muxi_cli.media.office import office_text
from muxi_cli.media.sniff import XLSX

ROOT = Path(__file__).resolve().parents[2]
XXE = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'


def xlsx(edit_sheet) -> bytes:  # type: ignore[no-untyped-def]
    from openpyxl import Workbook

    wb = Workbook()
    wb.active["A1"] = "MARKER"
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = edit_sheet(data.decode()).encode()
            z.writestr(info.filename, data)
    return out.getvalue()


def with_dtd(sheet: str) -> str:
    head, rest = sheet.split("?>", 1) if sheet.startswith("<?xml") else ("", sheet)
    assert "MARKER" in rest
    return (head + "?>" if head else "") + XXE + rest.replace("MARKER", "&xxe;")


def sparse(rows: int):  # type: ignore[no-untyped-def]
    def edit(sheet: str) -> str:
        sheet = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:XFD{rows}"/>', sheet)
        return sheet.replace(
            "</sheetData>",
            f'<row r="{rows}"><c r="A{rows}" t="inlineStr"><is><t>end</t></is></c></row>'
            "</sheetData>",
        )

    return edit


def test_an_xlsx_with_a_dtd_is_a_media_error_not_a_crash() -> None:
    # On main: xml.etree.ElementTree.ParseError escapes office_text; over the
    # server the turn fails with internal_error "this is a bug in muxi".
    data = xlsx(with_dtd)
    with pytest.raises(MediaError):
        office_text(data, XLSX, "evil.xlsx")


def test_an_xlsx_declaring_a_million_empty_rows_is_read_in_bounded_time(tmp_path: Path) -> None:
    # A 4.8 kB workbook whose sheet declares A1:XFD1048576 and has a cell in
    # its last row: openpyxl's read-only reader yields every empty row in
    # between as a 16 384-cell tuple, and _xlsx skips empty rows without
    # counting them. On main: ~0.6 ms a row, about 11 minutes of CPU (with
    # the GIL) per sheet, in a thread a cancelled turn cannot stop.
    path = tmp_path / "sparse.xlsx"
    path.write_bytes(xlsx(sparse(1_048_576)))
    code = (
        "import sys; from pathlib import Path\n"
        "from muxi_cli.media.office import office_text\n"
        "from muxi_cli.errors import MediaError\n"
        "try:\n"
        f"    office_text(Path({str(path)!r}).read_bytes(), {XLSX!r}, 'sparse.xlsx')\n"
        "except MediaError:\n"
        "    pass\n"
    )
    try:
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=20, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a 5 kB spreadsheet took more than 20 s")


async def test_a_bad_spreadsheet_in_the_history_becomes_a_placeholder_not_a_failed_turn() -> None:
    # media/prepare.py's _Preparer.one turns only MuxiError into a placeholder;
    # prepare() runs over the whole history before every model call and a
    # failed extraction is not cached, so on main a session holding this file
    # fails every later turn with internal_error ("unexpected error:
    # ParseError"), seen over `muxi serve`: the session is bricked.
    from muxi_cli.llm.base import Media, Message
    from muxi_cli.media.prepare import ModelView, prepare
    from muxi_cli.providers.spec import MediaSupport

    item = Media("document", XLSX, xlsx(with_dtd), name="evil.xlsx")
    out = await prepare(
        [Message("user", "read this", media=(item,))],
        ModelView("openai/x", MediaSupport()),
    )
    assert "evil.xlsx" in out[0].content


def big_docx(xml_mb: int) -> bytes:
    """A docx whose document.xml is ``xml_mb`` MB of one-letter paragraphs
    (compresses ~25x: well under MAX_RATIO)."""
    import random

    from docx import Document

    doc = Document()
    doc.add_paragraph("MARKER")
    buf = io.BytesIO()
    doc.save(buf)
    rnd = random.Random(1)
    unit = "<w:p><w:r><w:t>%s</w:t></w:r></w:p>"
    body = "".join(
        unit % rnd.choice("abcdefghijklmnopqrstuvwxyz")
        for _ in range(xml_mb * 1_000_000 // len(unit % "a"))
    )
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "word/document.xml":
                data = data.replace(b"<w:p><w:r><w:t>MARKER</w:t></w:r></w:p>", body.encode())
            z.writestr(info.filename, data)
    return out.getvalue()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_docx_with_a_large_document_xml_costs_bounded_memory_and_time(tmp_path: Path) -> None:
    # check_zip allows 256 MB unzipped at a ratio up to 100. On main an 825 kB
    # docx (20 MB of document.xml) costs +321 MB in normalize() (python-docx
    # builds the whole lxml tree at upload, inside the upload gate) and +658 MB
    # and 28 s in extract_sync(). At the 256 MB allowance (a ~10 MB docx, under
    # the default 20 MB upload limit) that is several GB per upload, 8 at once.
    path = tmp_path / "big.docx"
    path.write_bytes(big_docx(20))
    assert path.stat().st_size < 1_000_000
    code = (
        "import re, time\n"
        "from pathlib import Path\n"
        "from muxi_cli.errors import MediaError\n"
        "from muxi_cli.media.ingest import extract_sync, normalize\n"
        "def hwm():\n"
        "    text = Path('/proc/self/status').read_text()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', text).group(1))\n"
        "before = hwm()\n"
        "start = time.monotonic()\n"
        "try:\n"
        f"    found = normalize(Path({str(path)!r}).read_bytes(), 'big.docx', None)\n"
        "    extract_sync(found.data, found.media_type, ocr=False)\n"
        "except MediaError:\n"
        "    pass\n"
        "print((hwm() - before) // 1024, time.monotonic() - start)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading an 825 kB docx took more than 60 s")
    assert done.returncode == 0, done.stderr
    peak_mb, seconds = done.stdout.split()
    assert int(peak_mb) < 300 and float(seconds) < 10, (peak_mb, seconds)
