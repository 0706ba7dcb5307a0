"""Real files for the media tests, made on the spot (Pillow, python-docx/pptx, openpyxl)."""

from __future__ import annotations

import io
import zipfile

from PIL import Image, ImageDraw, ImageFont


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def text_pdf(pages: list[str]) -> bytes:
    """A PDF with a real text layer: each page's lines in Helvetica."""
    font = 3 + 2 * len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
    ]
    for i, text in enumerate(pages):
        lines = [
            ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            for ln in text.split("\n")
        ]
        shows = " T* ".join(f"({ln}) Tj" for ln in lines)
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shows} ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _pdf(objects)


def text_image(
    lines: list[str], size: tuple[int, int] = (1240, 700), mode: str = "RGB"
) -> Image.Image:
    """Black text on white (or on transparent, for ``RGBA``), large enough to OCR."""
    background = (255, 255, 255, 0) if mode == "RGBA" else "white"
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for row, line in enumerate(lines):
        draw.text((60, 60 + row * 80), line, fill="black", font=font)
    return image


def scanned_pdf(pages: list[list[str]]) -> bytes:
    """An image-only PDF (no text layer), the way a scanner writes one."""
    images = [text_image(lines, (1240, 1754)) for lines in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return out.getvalue()


def scan_with_header_pdf(lines: list[str], header: str) -> bytes:
    """A page that is a scanned image (JPEG) with a short real text line on top,
    as document systems stamp scans ("Confidential", a page number)."""
    jpeg = io.BytesIO()
    text_image(lines, (1240, 1754)).save(jpeg, "JPEG", quality=85)
    stream = f"q 612 0 0 792 0 0 cm /Im0 Do Q BT /F1 10 Tf 72 780 Td ({header}) Tj ET".encode()
    image = jpeg.getvalue()
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im0 6 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /XObject /Subtype /Image /Width 1240 /Height 1754 /ColorSpace /DeviceRGB"
            b" /BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n"
            % len(image)
            + image
            + b"\nendstream",
        ]
    )


def many_pages_pdf(count: int) -> bytes:
    """A PDF bomb: one page object listed ``count`` times (1 MB per 170 000 pages)."""
    kids = " ".join(["3 0 R"] * count)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )


def huge_page_pdf() -> bytes:
    """One blank page of 5 000 km by 5 000 km (a naive render needs terabytes)."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400000 14400000] >>",
        ]
    )


def photo_with_exif(size: tuple[int, int] = (300, 200), orientation: int = 6) -> bytes:
    """A JPEG whose EXIF says: rotate 90 degrees (orientation 6), taken at a GPS position."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0] // 4, size[1] // 4), fill="red")  # marks the top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "MuxiCam"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def png_with_exif(size: tuple[int, int] = (300, 200)) -> bytes:
    """The same, as a PNG (``eXIf`` chunk) with a text chunk and an ICC profile."""
    from PIL import ImageCms, PngImagePlugin

    image = Image.open(io.BytesIO(photo_with_exif(size)))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(out, "PNG", exif=image.getexif(), pnginfo=info, icc_profile=icc)
    return out.getvalue()


def png(size: tuple[int, int] = (64, 48), mode: str = "RGB", color: object = "blue") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")  # type: ignore[arg-type]
    return out.getvalue()


def docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    from docx import Document

    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    if table:
        grid = doc.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pptx(slides: list[tuple[str, str, str]]) -> bytes:
    """Slides of ``(title, body, notes)``."""
    from pptx import Presentation

    prs = Presentation()
    for title, body, notes in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    prs.save(out)
    return out.getvalue()


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bomb_docx(huge: int = 64 * 1024 * 1024) -> bytes:
    """A real docx with one more part: ``huge`` bytes of zeros, deflated to ~0.1%."""
    source = zipfile.ZipFile(io.BytesIO(docx(["Hello"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            archive.writestr(item, source.read(item))
        archive.writestr("word/media/padding.bin", bytes(huge))
    return out.getvalue()
