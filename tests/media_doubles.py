"""Small local stand-ins for the media functions the docs lane writes
(``media.ingest``, ``media.images``), served only while the real ones are
missing; replaced when the docs lane merges.

Each follows the contract in the brief and does real work (Pillow, pypdfium2,
python-docx, ffmpeg), so the tests that use them test real bytes.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import tempfile
from pathlib import Path

from muxi_cli.errors import MediaError
from muxi_cli.media.types import DerivedCache, Extracted, Normalized, Transcriber

# -------------------------------------------------------------- media.images


def fit_image(
    data: bytes,
    media_type: str,
    *,
    max_bytes: int,
    max_long_edge: int,
    max_pixels: int | None = None,
    types: frozenset[str] = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}),
) -> tuple[bytes, str]:
    from PIL import Image, ImageOps

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise MediaError(f"unreadable image: {exc}") from None
    image = ImageOps.exif_transpose(image)
    width, height = image.size
    scale = min(1.0, max_long_edge / max(width, height))
    if max_pixels:
        scale = min(scale, (max_pixels / (width * height)) ** 0.5)
    if scale < 1.0:
        image = image.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    alpha = image.mode in ("RGBA", "LA", "P")
    fmt, out_type = (
        ("PNG", "image/png") if alpha and "image/png" in types else ("JPEG", "image/jpeg")
    )
    if fmt == "JPEG":
        image = image.convert("RGB")
    quality = 90
    while True:
        buf = io.BytesIO()
        image.save(buf, fmt, quality=quality)
        if buf.tell() <= max_bytes or quality <= 30:
            return buf.getvalue(), out_type
        quality -= 15


# -------------------------------------------------------------- media.ingest

MAX_INPUT_BYTES = 20 * 1024 * 1024
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mpeg"),
)


def sniff(data: bytes, name: str | None = None, claimed: str | None = None) -> str:
    found = next((t for magic, t in _MAGIC if data.startswith(magic)), None)
    if found is None:
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            found = "audio/wav"
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            found = "image/webp"
        elif data[4:8] == b"ftyp":
            found = "video/mp4"
        elif data[:2] == b"PK" and b"word/" in data:
            found = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        else:
            raise MediaError(f"{name or 'the file'}: not a kind of file muxi reads")
    majors_differ = claimed and claimed.split("/")[0] != found.split("/")[0]
    if majors_differ and not str(claimed).startswith("application/octet"):
        raise MediaError(f"{name or 'the file'} says it is {claimed} but is {found}")
    return found


def normalize(data: bytes, name: str | None = None, claimed: str | None = None) -> Normalized:
    media_type = sniff(data, name, claimed)
    if media_type.startswith("image/"):
        from PIL import Image, ImageOps

        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as exc:
            raise MediaError(f"{name or 'the image'} is not a readable image: {exc}") from None
        image = ImageOps.exif_transpose(image)
        buf = io.BytesIO()
        fmt = "PNG" if media_type == "image/png" else "JPEG"
        (image if fmt == "PNG" else image.convert("RGB")).save(buf, fmt)
        out = "image/png" if fmt == "PNG" else "image/jpeg"
        return Normalized(buf.getvalue(), out, {"width": image.width, "height": image.height})
    if media_type == "application/pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(data)
        return Normalized(data, media_type, {"pages": len(pdf)})
    return Normalized(data, media_type, {})


def _pdf(data: bytes) -> Extracted:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    texts = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if text:
        return Extracted(text, (), ("text",))
    images = []
    for i in range(len(pdf)):
        buf = io.BytesIO()
        pdf[i].render(scale=1).to_pil().save(buf, "PNG")
        images.append((buf.getvalue(), "image/png"))
    return Extracted(_ocr_all(images), tuple(images), ("ocr", "pages"))


def _ocr_all(images: list[tuple[bytes, str]]) -> str:
    return "\n".join(ocr_image(data) for data, _ in images).strip()


def ocr_image(data: bytes) -> str:
    from rapidocr_onnxruntime import RapidOCR

    found, _ = RapidOCR()(data)
    return " ".join(line[1] for line in found or [])


def _frames(data: bytes) -> list[tuple[bytes, str]]:
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        src.write_bytes(data)
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-vf", "fps=1",
             "-frames:v", "3", str(Path(tmp) / "f%02d.jpg")],
            check=True,
        )  # fmt: skip
        return [(p.read_bytes(), "image/jpeg") for p in sorted(Path(tmp).glob("f*.jpg"))]


async def extract(
    data: bytes,
    media_type: str,
    *,
    media_id: str | None = None,
    cache: DerivedCache | None = None,
    transcriber: Transcriber | None = None,
    ocr: bool = True,
) -> Extracted:
    if media_id and cache is not None:
        hit = cache.get_derived(media_id, "extracted")
        if hit is not None:
            raw = json.loads(hit)
            images = tuple((bytes.fromhex(d), t) for d, t in raw["images"])
            return Extracted(raw["text"], images, tuple(raw["derived"]))
    if media_type == "application/pdf":
        found = await asyncio.to_thread(_pdf, data)
    elif media_type.startswith("image/"):
        found = Extracted(await asyncio.to_thread(ocr_image, data) if ocr else "", (), ("ocr",))
    elif media_type.startswith(("audio/", "video/")):
        if transcriber is None:
            raise MediaError("no speech-to-text is configured for audio")
        text = await transcriber.transcribe(data, media_type, None)
        frames = (
            tuple(await asyncio.to_thread(_frames, data)) if media_type.startswith("video/") else ()
        )
        found = Extracted(text, frames, ("transcript", "frames") if frames else ("transcript",))
    elif "wordprocessingml" in media_type:
        import docx

        doc = docx.Document(io.BytesIO(data))
        found = Extracted("\n".join(p.text for p in doc.paragraphs), (), ("text",))
    else:
        raise MediaError(f"muxi cannot read {media_type}")
    if media_id and cache is not None:
        cache.put_derived(media_id, "text", found.text.encode())
        raw = {"text": found.text, "images": [(d.hex(), t) for d, t in found.images],
               "derived": list(found.derived)}  # fmt: skip
        cache.put_derived(media_id, "extracted", json.dumps(raw).encode())
    return found


#: The stand-in modules, by name (tests/doubles_site/sitecustomize.py serves them).
MODULES = {
    "muxi_cli.media.images": {"fit_image": fit_image},
    "muxi_cli.media.ingest": {
        "sniff": sniff, "normalize": normalize, "extract": extract,
        "MAX_INPUT_BYTES": MAX_INPUT_BYTES,
    },
}  # fmt: skip
