"""Media benchmarks: time and peak memory to prepare files for a model.

- ``media.photo_12mp``: ``normalize`` (decode, EXIF orientation, strip,
  re-encode) and ``fit_image`` to Anthropic's limits, of a 4000 x 3000 JPEG.
- ``media.pdf_text_50p``: ``extract`` of a 50-page PDF with a text layer.
- ``media.pdf_scanned_50p``: ``extract`` of a 50-page image-only PDF (all
  pages rendered and OCRed; the OCR engine's load is included). Slow (minutes
  on two cores): ``--quick`` makes it 5 pages (``media.pdf_scanned_5p``).
- ``media.audio_1min``: ``media.av.extract_av`` of a one-minute WAV, when the
  av module is there (:func:`audio_case`).

Each case runs in a fresh child process, so its peak RSS (``VmHWM``, which
starts afresh at exec, unlike ``ru_maxrss``) is that case's alone, the
interpreter and its imports included.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

from benchmarks.common import PYTHON, ROOT, Result
from muxi_cli.media.types import Extracted

PAGES = 50


def _photo(path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.effect_noise((4000, 3000), 40).convert("RGB")
    ImageDraw.Draw(image).rectangle((0, 0, 1500, 900), fill=(200, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, "JPEG", quality=90, exif=exif)


def _inputs(folder: Path, pages: int) -> dict[str, Path]:
    from tests.media import files

    paths = {
        "photo": folder / "photo.jpg",
        "text_pdf": folder / "text.pdf",
        "scanned_pdf": folder / "scanned.pdf",
        "audio": folder / "minute.wav",
    }
    _photo(paths["photo"])
    lines = [f"Line {n} of the report says something about item {n * 7}." for n in range(40)]
    paths["text_pdf"].write_bytes(files.text_pdf(["\n".join(lines)] * PAGES))
    page = [f"Scanned page line {n}" for n in range(12)]
    paths["scanned_pdf"].write_bytes(files.scanned_pdf([page] * pages))
    with wave.open(str(paths["audio"]), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x10" * 16000 * 60)
    return paths


def photo_case(path: Path) -> str:
    from muxi_cli.media.images import fit_image
    from muxi_cli.media.ingest import normalize

    clean = normalize(path.read_bytes(), path.name)
    data, kind = fit_image(
        clean.data, clean.media_type, max_bytes=5_000_000, max_long_edge=1568, max_pixels=1_150_000
    )
    return f"{clean.meta['width']}x{clean.meta['height']} -> {len(data) // 1000} kB {kind}"


async def extract_pdf(data: bytes) -> Extracted:
    from muxi_cli.media.ingest import extract_sync

    return await asyncio.to_thread(extract_sync, data, "application/pdf", max_ocr_pages=PAGES)


def pdf_case(path: Path) -> str:
    # All pages OCRed, as knowledge ingestion does (attachments stop at 50).
    found = asyncio.run(extract_pdf(path.read_bytes()))
    return f"{len(found.text) // 1000} k chars, {len(found.images)} page images"


class _InstantTranscriber:
    """Answers at once: the case measures what muxi does to the audio (probe,
    conversion for the API), not a provider's round trip."""

    async def transcribe(self, data: bytes, media_type: str, name: str | None = None) -> str:
        return f"({len(data)} bytes of {media_type})"


def audio_case(path: Path) -> str:
    """One minute of audio through the av lane's ``extract_av``."""
    from muxi_cli.media.av import extract_av  # type: ignore[attr-defined,unused-ignore]

    found = asyncio.run(
        extract_av(
            path.read_bytes(),
            "audio/wav",
            media_id=None,
            cache=None,
            transcriber=_InstantTranscriber(),
        )
    )
    return f"{len(found.text)} chars, derived {','.join(found.derived)}"


CASES = {
    "photo_12mp": ("photo", photo_case),
    "pdf_text_50p": ("text_pdf", pdf_case),
    "pdf_scanned_50p": ("scanned_pdf", pdf_case),
    "audio_1min": ("audio", audio_case),
}


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _child(case: str, path: str) -> None:
    started = time.perf_counter()
    note = CASES[case][1](Path(path))
    seconds = time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "note": note}))


def _have_av() -> bool:
    import importlib.util

    return importlib.util.find_spec("muxi_cli.media.av") is not None


def run(quick: bool) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = _inputs(Path(tmp), 5 if quick else PAGES)
        for case, (key, _fn) in CASES.items():
            name = f"media.{case}"
            if quick and case == "pdf_scanned_50p":
                name = "media.pdf_scanned_5p"
            if case == "audio_1min" and not _have_av():
                results.append(Result(name, "n/a", "", note="media.av (av lane) not present"))
                continue
            proc = subprocess.run(
                [PYTHON, "-m", "benchmarks.bench_media", case, str(paths[key])],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                results.append(Result(name, "FAILED", "", note=tail[0]))
                continue
            found = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(Result(name, round(found["seconds"], 2), "s", note=found["note"]))
            results.append(Result(f"{name}.peak_rss", round(found["peak_mb"]), "MB"))
    return results


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
