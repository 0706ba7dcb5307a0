"""Ingestion: size limits before reading, what normalize refuses, audio/video hand-off."""

from __future__ import annotations

import importlib.util
import io
import time
import wave
from pathlib import Path

import pytest

from muxi_cli.errors import MediaError, MediaTooLargeError
from muxi_cli.media.ingest import MAX_INPUT_BYTES, extract, normalize, read_limited

from . import files
from .conftest import DictCache

HAVE_AV = importlib.util.find_spec("muxi_cli.media.av") is not None


def test_the_input_limit_is_the_stores_per_file_limit() -> None:
    from muxi_cli.stores.media import DEFAULT_MAX_BYTES

    assert MAX_INPUT_BYTES == DEFAULT_MAX_BYTES


def test_a_2gb_file_is_refused_by_its_size_without_being_read(tmp_path: Path) -> None:
    big = tmp_path / "huge.mp4"
    with big.open("wb") as fh:  # sparse: 2 GB on paper, nothing on disk
        fh.truncate(2 * 1024**3)
    started = time.perf_counter()
    with pytest.raises(MediaTooLargeError) as err:
        read_limited(big)
    assert time.perf_counter() - started < 1
    assert err.value.message == "huge.mp4 is 2,147.5 MB; the limit is 21.0 MB"
    assert err.value.code == "media_too_large" and err.value.http_status == 413


def test_a_stream_is_read_to_the_limit_and_no_further() -> None:
    class Endless(io.RawIOBase):
        name = "<stdin>"
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:  # type: ignore[no-untyped-def,override]
            buf[: len(buf)] = b"x" * len(buf)
            self.served += len(buf)
            return len(buf)

    stream = Endless()
    with pytest.raises(MediaTooLargeError, match="<stdin> is more than that"):
        read_limited(io.BufferedReader(stream), limit=1000)
    assert stream.served < 100_000
    assert read_limited(io.BytesIO(b"small"), limit=1000) == b"small"


def test_read_limited_reads_a_small_file_and_explains_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"hello")
    assert read_limited(tmp_path / "a.txt") == b"hello"
    with pytest.raises(MediaError, match=r"cannot read .*nope\.txt: No such file"):
        read_limited(tmp_path / "nope.txt")


def test_normalize_refuses_empty_oversized_and_unknown() -> None:
    with pytest.raises(MediaError, match=r"empty\.png is empty"):
        normalize(b"", "empty.png")
    with pytest.raises(MediaTooLargeError):
        normalize(bytes(MAX_INPUT_BYTES + 1), "big.bin")
    with pytest.raises(MediaError, match="binary data of a kind muxi does not read"):
        normalize(bytes(range(256)) * 8, "blob.bin")
    with pytest.raises(MediaError, match="ZIP archive"):
        buf = io.BytesIO()
        import zipfile

        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("a.txt", "x")
        normalize(buf.getvalue(), "stuff.zip")


def test_a_file_whose_extension_lies_is_refused_by_normalize() -> None:
    with pytest.raises(MediaError) as err:
        normalize(files.text_pdf(["x"]), "shot.png")
    assert err.value.message == "shot.png is a PDF document, not a PNG image"


def test_text_is_kept_as_sent() -> None:
    out = normalize(b"a,b\n1,2\n", "t.csv")
    assert (out.data, out.media_type, out.meta) == (b"a,b\n1,2\n", "text/csv", {})


async def test_image_text_by_ocr_only_when_asked(cache: DictCache) -> None:
    image = files.text_image(["Meeting at noon"], (900, 200))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    assert (await extract(buf.getvalue(), "image/png", ocr=False)).text == ""
    found = await extract(buf.getvalue(), "image/png", media_id="i1", cache=cache)
    assert found.text == "Meeting at noon" and found.derived == ("ocr",)
    assert cache.items[("i1", "text")] == b"Meeting at noon"


def _wav(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


@pytest.mark.skipif(not HAVE_AV, reason="muxi_cli.media.av (the av lane's module) is not here yet")
def test_audio_is_probed_by_the_av_module() -> None:
    out = normalize(_wav(0.5), "memo.wav")
    assert out.media_type == "audio/wav" and out.data == _wav(0.5)
    assert out.meta["duration"] == pytest.approx(0.5, abs=0.1)


def test_importing_ingest_loads_no_heavy_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, muxi_cli.media.ingest;"
        "print(sorted(m for m in ('PIL', 'pypdfium2', 'docx', 'pptx', 'openpyxl',"
        " 'rapidocr_onnxruntime', 'numpy', 'bs4', 'zipfile') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _Transcriber:
    def __init__(self) -> None:
        self.calls = 0

    async def transcribe(self, data: bytes, media_type: str, name: str | None = None) -> str:
        self.calls += 1
        return "hello from the memo"


@pytest.mark.skipif(not HAVE_AV, reason="muxi_cli.media.av (the av lane's module) is not here yet")
async def test_audio_extract_goes_to_the_av_module_and_is_cached(cache: DictCache) -> None:
    transcriber = _Transcriber()
    for _ in range(2):
        found = await extract(
            _wav(1.0), "audio/wav", media_id="a" * 64, cache=cache, transcriber=transcriber
        )
        assert found.text == "hello from the memo"
    assert transcriber.calls == 1
