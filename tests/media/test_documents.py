"""Documents: PDFs (text layer, scans, bombs), docx, pptx, xlsx, HTML and text."""

from __future__ import annotations

import io
import time

import pytest

from muxi_cli.errors import MediaError
from muxi_cli.media import documents
from muxi_cli.media.ingest import extract, extract_sync, normalize
from muxi_cli.media.sniff import DOCX, PPTX, XLSX

from . import files
from .conftest import DictCache


def test_text_pdf_pages_and_text() -> None:
    data = files.text_pdf(["Warranty: two years from purchase.", "Reset: hold the red button."])
    assert normalize(data, "manual.pdf").meta == {"pages": 2}
    found = extract_sync(data, "application/pdf")
    assert found.text == (
        "[page 1]\nWarranty: two years from purchase.\n\n[page 2]\nReset: hold the red button."
    )
    assert found.derived == ("text",) and found.images == ()


def test_scanned_pdf_is_ocred_and_its_pages_kept_as_images() -> None:
    data = files.scanned_pdf([["Invoice 4471", "Total due 92 euros"], ["Second page here"]])
    found = extract_sync(data, "application/pdf")
    assert "Invoice 4471" in found.text and "Second page" in found.text
    assert found.text.index("[page 1]") < found.text.index("Invoice") < found.text.index("[page 2]")
    assert found.derived == ("text", "ocr", "pages")
    assert [kind for _data, kind in found.images] == ["image/jpeg", "image/jpeg"]
    assert all(blob[:3] == b"\xff\xd8\xff" for blob, _kind in found.images)
    # Without OCR: no text, the page images still there for a vision model.
    plain = extract_sync(data, "application/pdf", ocr=False)
    assert plain.text == "" and len(plain.images) == 2 and plain.derived == ("pages",)


def test_pdf_bomb_with_a_million_pages_is_refused_fast() -> None:
    data = files.many_pages_pdf(200_000)
    started = time.perf_counter()
    with pytest.raises(MediaError, match=r"has 200,000 pages \(the limit is 2,000\)"):
        normalize(data, "bomb.pdf")
    assert time.perf_counter() - started < 5


def test_pdf_declaring_absurd_object_counts_is_refused_before_parsing() -> None:
    data = files.text_pdf(["x"]).replace(b"/Size 6", b"/Size 999999999")
    with pytest.raises(MediaError, match="declares 999,999,999 objects"):
        normalize(data, "odd.pdf")


def test_a_page_of_absurd_size_renders_within_the_pixel_cap() -> None:
    data = files.huge_page_pdf()
    found = extract_sync(data, "application/pdf", ocr=False)
    ((jpeg, _kind),) = found.images
    from PIL import Image

    image = Image.open(io.BytesIO(jpeg))
    assert image.width * image.height <= documents.MAX_RENDER_PIXELS


def test_encrypted_and_damaged_pdfs_are_clear_errors() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(MediaError, match=r"secret.pdf is encrypted \(it needs a password\)"):
        normalize(out.getvalue(), "secret.pdf")
    with pytest.raises(MediaError, match="damaged PDF"):
        normalize(files.text_pdf(["x"])[:60], "cut.pdf")


def test_docx_paragraphs_and_tables_in_order() -> None:
    data = files.docx(["Holidays are 25 days.", "Ask HR."], table=[["Name", "Days"], ["Ana", "3"]])
    clean = normalize(data, "policy.docx")
    assert clean.media_type == DOCX and clean.data == data
    text = extract_sync(data, DOCX).text
    assert text == "Holidays are 25 days.\n\nAsk HR.\n\nName | Days\nAna | 3"


def test_pptx_slides_and_notes() -> None:
    data = files.pptx([("Q3 plan", "Hire two", "Say it slowly"), ("Risks", "Budget", "")])
    assert normalize(data, "deck.pptx").meta == {"pages": 2}
    text = extract_sync(data, PPTX).text
    assert text == (
        "[slide 1]\nQ3 plan\nHire two\nNotes: Say it slowly\n\n[slide 2]\nRisks\nBudget"
    )


def test_xlsx_sheets_as_csv_with_capped_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from muxi_cli.media import office

    rows: list[list[object]] = [["id", "name"], *([i, f"n,{i}"] for i in range(10))]
    data = files.xlsx({"People": rows, "Empty": []})
    assert normalize(data, "book.xlsx").media_type == XLSX
    monkeypatch.setattr(office, "MAX_ROWS", 4)
    text = extract_sync(data, XLSX).text
    assert (
        text
        == (
            '[sheet People]\nid,name\n0,"n,0"\n1,"n,1"\n2,"n,2"\n[rows after 4 not read]'
            "\n\n[sheet Empty]\n"
        ).strip()
    )


def test_zip_bomb_docx_is_refused_before_anything_is_unpacked() -> None:
    data = files.zip_bomb_docx()
    assert len(data) < 1_000_000
    with pytest.raises(MediaError, match=r"padding.bin unpacks [\d,]+ times its size") as err:
        normalize(data, "bomb.docx")
    assert "zip bomb" in err.value.hint
    with pytest.raises(MediaError, match=r"zip bomb|unpacks"):
        extract_sync(data, DOCX)


def test_damaged_office_file() -> None:
    data = files.docx(["x"])
    broken = data.replace(b"word/document.xml", b"word/documenX.xml")
    with pytest.raises(MediaError):
        normalize(broken, "broken.docx")


def test_html_without_scripts_and_text_as_is() -> None:
    html = b"<html><script>var x=1;</script><style>p{}</style><body><h1>FAQ</h1><p>Refunds.</p></body></html>"
    assert normalize(html, "faq.html").media_type == "text/html"
    text = extract_sync(html, "text/html").text
    assert "Refunds." in text and "var x" not in text and "p{}" not in text
    assert extract_sync(b"a,b\r\n1,2\r\n", "text/csv").text == "a,b\n1,2\n"


async def test_extract_is_cached_under_the_media_id(
    cache: DictCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = files.scanned_pdf([["Cached page text"]])
    first = await extract(data, "application/pdf", media_id="m1", cache=cache)
    assert "Cached page text" in first.text
    assert set(cache.items) == {("m1", "text"), ("m1", "page-0001.jpg"), ("m1", "extract.json")}
    assert cache.items[("m1", "text")].decode() == first.text

    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("the second call must do no work")

    monkeypatch.setattr(documents, "pdf_extract", boom)
    puts = cache.puts
    second = await extract(data, "application/pdf", media_id="m1", cache=cache)
    assert second == first and cache.puts == puts


async def test_a_cache_made_without_ocr_is_redone_with_ocr(cache: DictCache) -> None:
    data = files.scanned_pdf([["Late OCR works"]])
    assert (
        await extract(data, "application/pdf", media_id="m2", cache=cache, ocr=False)
    ).text == ""
    assert "Late OCR" in (await extract(data, "application/pdf", media_id="m2", cache=cache)).text


def test_ocr_stops_at_its_page_cap_and_says_so() -> None:
    data = files.scanned_pdf([["First scanned page"], ["Second scanned page"]])
    found = documents.pdf_extract(data, ocr=True, max_ocr_pages=1)
    assert "First scanned page" in found.text and "Second" not in found.text
    assert found.text.endswith("[pages not read: 2 (OCR stops at 1 pages)]")
    assert len(found.images) == 2  # the unread page still goes to a vision model


def test_a_scan_with_a_stamped_text_line_is_still_ocred() -> None:
    data = files.scan_with_header_pdf(
        ["Delivery note 5520", "Signed by the driver"], "CONFIDENTIAL"
    )
    found = extract_sync(data, "application/pdf")
    # The text layer's line and the scan's lines, OCRed (spaces are OCR's weak point).
    assert found.text.startswith("[page 1]\nCONFIDENTIAL\nDelivery")
    assert "5520" in found.text and "Signed by the driver" in found.text
    assert "ocr" in found.derived
    # A page of real text with no image is not rendered.
    assert (
        extract_sync(files.text_pdf(["A short page of typed text."]), "application/pdf").images
        == ()
    )
