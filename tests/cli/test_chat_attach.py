"""`muxi chat --attach` and piped binary stdin through the real entry point.

Real files made here, the real local runtime, the fake model server. Bad input
must stop before any model call, with exit 2, and store nothing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi as muxi

#: A model the provider table knows to take images and PDFs (the fake answers for any name).
VISION_MODEL = "gpt-4o"


@pytest.fixture
def formation(fake_llm: FakeLLM, tmp_path: Path) -> Path:
    return fake_llm.write_formation(tmp_path, model=VISION_MODEL)


def stored_media(home: Path) -> list[Path]:
    """Every file the media store holds under the test's muxi home."""
    return [p for p in home.rglob("*") if p.is_file() and "media" in p.relative_to(home).parts]


def png(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    from PIL import Image

    Image.new("RGB", size, (200, 30, 30)).save(path, "PNG")
    return path


def pdf_bytes() -> bytes:
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(page).text((20, 80), "INVOICE 4711", fill="black")
    out = io.BytesIO()
    page.save(out, "PDF")
    return out.getvalue()


def muxi_bytes(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """`muxi ARGS` with binary stdin (``run_muxi`` sends text)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, "-m", "muxi_cli", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
    )


# ----------------------------------------------------------------- bad input


def _empty(folder: Path) -> Path:
    path = folder / "empty.pdf"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: d / "nope.png", "no such file"),
        (lambda d: d, "is a folder"),
        (_empty, "is empty"),
    ],
    ids=["missing", "folder", "empty"],
)
def test_bad_file_exits_2_before_any_model_call(
    fake_llm: FakeLLM, formation: Path, muxi_home: Path, tmp_path: Path, make, says
):
    folder = tmp_path / "files"
    folder.mkdir()
    result = muxi("chat", "look", "--attach", str(make(folder)))
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "bad_media" in result.stderr
    assert result.stdout == ""
    assert fake_llm.requests == [] and stored_media(muxi_home) == []


def test_not_a_regular_file_is_refused(fake_llm: FakeLLM, formation: Path, tmp_path: Path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = muxi("chat", "look", "--attach", str(fifo))
    assert result.returncode == 2 and "not a regular file" in result.stderr
    assert fake_llm.requests == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_refused(fake_llm: FakeLLM, formation: Path, tmp_path: Path):
    secret = tmp_path / "secret.png"
    png(secret)
    secret.chmod(0)
    result = muxi("chat", "look", "--attach", str(secret))
    assert result.returncode == 2 and "permission denied" in result.stderr
    assert fake_llm.requests == []


def test_a_2_gb_file_is_refused_by_size_without_reading_it(
    fake_llm: FakeLLM, formation: Path, muxi_home: Path, tmp_path: Path
):
    huge = tmp_path / "huge.mp4"
    with huge.open("wb") as fh:  # sparse: 2 GiB on paper, nothing on disk
        fh.truncate(2 * 1024**3)
    result = muxi("chat", "watch this", "-A", str(huge), "-o", "json")
    assert result.returncode == 2, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "media_too_large"
    assert "2,147,483,648 bytes" in error["message"] and "20,971,520" in error["message"]
    assert fake_llm.requests == [] and stored_media(muxi_home) == []


def test_second_bad_file_stores_nothing_of_the_first(
    fake_llm: FakeLLM, formation: Path, muxi_home: Path, tmp_path: Path
):
    good = png(tmp_path / "good.png")
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as fh:
        fh.truncate(30 * 1024**2)
    result = muxi("chat", "two files", "-A", str(good), "-A", str(huge))
    assert result.returncode == 2 and "media_too_large" in result.stderr
    assert fake_llm.requests == [] and stored_media(muxi_home) == []


def test_only_http_urls(fake_llm: FakeLLM, formation: Path):
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x.png"):
        result = muxi("chat", "look", "--attach", url)
        assert result.returncode == 2 and "only http and https" in result.stderr
    assert fake_llm.requests == []


# ----------------------------------------------------------------- text stays text


def test_text_files_join_the_message_as_text(fake_llm: FakeLLM, formation: Path, tmp_path: Path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\n- ship it\n", encoding="utf-8")
    table = tmp_path / "prices.csv"
    table.write_text("item,price\ntea,3\n", encoding="utf-8")
    fake_llm.script(Text("noted"))
    result = muxi("chat", "summarise", "--attach", str(notes), "-A", str(table))
    assert result.returncode == 0, result.stderr
    content = fake_llm.requests[-1]["messages"][-1]["content"]
    assert content.startswith("summarise")
    assert '<attachment name="notes.md" type="text/markdown">' in content and "ship it" in content
    assert '<attachment name="prices.csv" type="text/csv">' in content and "tea,3" in content


def test_text_stdin_keeps_working(fake_llm: FakeLLM, formation: Path):
    fake_llm.script(Text("ok"))
    result = muxi("chat", "review this", stdin="diff --git a/x b/x\n+hello\n")
    assert result.returncode == 0, result.stderr
    content = fake_llm.requests[-1]["messages"][-1]["content"]
    assert '<attachment name="stdin" type="text/plain">' in content and "+hello" in content


# ----------------------------------------------------------------- media


def _user_parts(session_id: str) -> list[dict]:
    shown = json.loads(muxi("sessions", "show", session_id, "--json").stdout)
    return next(m for m in shown["messages"] if m["role"] == "user")["parts"]


def test_image_is_stored_and_sent_by_media_id(
    fake_llm: FakeLLM, formation: Path, muxi_home: Path, tmp_path: Path
):
    shot = png(tmp_path / "shot.png", (64, 48))
    fake_llm.script(Text("a red square"))
    result = muxi("chat", "what is wrong in this screenshot?", "--attach", str(shot), "-o", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["reply"] == "a red square"
    [processed] = out["media"]
    assert processed["type"] == "media.processed" and processed["name"] == "shot.png"
    assert processed["media_type"] == "image/png"
    assert processed["meta"]["width"] == 64 and processed["meta"]["height"] == 48
    parts = _user_parts(out["session_id"])
    image = next(p for p in parts if p["type"] == "image")
    assert image["media"]["id"] == processed["media_id"] and image["media"]["name"] == "shot.png"
    assert stored_media(muxi_home)
    sent = fake_llm.requests[-1]["messages"][-1]["content"]
    assert any(block.get("type") == "image_url" for block in sent)


def test_piped_pdf_is_attached_as_media_named_stdin(
    fake_llm: FakeLLM, formation: Path, tmp_path: Path
):
    fake_llm.script(Text("an invoice"))
    result = muxi_bytes("chat", "summarise", "-o", "jsonl", stdin=pdf_bytes())
    assert result.returncode == 0, result.stderr.decode()
    events = [json.loads(line) for line in result.stdout.decode().splitlines()]
    processed = [e for e in events if e["type"] == "media.processed"]
    assert len(processed) == 1
    assert processed[0]["name"] == "stdin" and processed[0]["media_type"] == "application/pdf"
    assert processed[0]["meta"]["pages"] == 1
    assert events[-1]["type"] == "run.completed"


def test_plain_output_says_what_was_attached(fake_llm: FakeLLM, formation: Path, tmp_path: Path):
    shot = png(tmp_path / "shot.png", (64, 48))
    fake_llm.script(Text("seen"))
    result = muxi("chat", "look", "-A", str(shot))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "seen\n"
    assert "attached shot.png (image/png, 64x48" in result.stderr
    quiet = muxi("chat", "look", "-A", str(shot), "--quiet")
    assert quiet.returncode == 0 and "attached" not in quiet.stderr


def test_a_file_whose_extension_lies_is_refused(
    fake_llm: FakeLLM, formation: Path, muxi_home: Path, tmp_path: Path
):
    liar = tmp_path / "photo.png"
    liar.write_bytes(pdf_bytes())
    result = muxi("chat", "look", "-A", str(liar))
    assert result.returncode == 2, result.stderr
    assert "bad_media" in result.stderr
    assert fake_llm.requests == [] and stored_media(muxi_home) == []


def test_a_truncated_png_is_refused(
    fake_llm: FakeLLM, formation: Path, muxi_home: Path, tmp_path: Path
):
    whole = png(tmp_path / "whole.png", (200, 200)).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    result = muxi("chat", "look", "-A", str(cut))
    assert result.returncode == 2 and "bad_media" in result.stderr
    assert fake_llm.requests == [] and stored_media(muxi_home) == []


def test_binary_stdin_cannot_be_the_message(fake_llm: FakeLLM, formation: Path):
    result = muxi_bytes("chat", stdin=pdf_bytes())
    assert result.returncode == 2
    assert b"binary data" in result.stderr and fake_llm.requests == []


# ----------------------------------------------------------------- the pieces


def test_binary_or_text() -> None:
    from muxi_cli.cli.attach import looks_binary, text_type

    assert looks_binary(b"%PDF-1.4\n1 0 obj\n")  # 7-bit clean, still a PDF
    assert looks_binary(b"caf\xe9 au lait")  # latin-1: not UTF-8
    assert looks_binary(b"abc\x00def")
    assert not looks_binary("héllo wörld\n".encode())
    cut = "naïve".encode()[:3]  # a read cut inside a character
    assert looks_binary(cut) and not looks_binary(cut, truncated=True)
    assert text_type("notes.md") == "text/markdown" and text_type("Makefile") == "text/plain"
    assert text_type("data.json") == "application/json" and text_type("scan.pdf") is None
