"""Attachments in `muxi sessions`: placeholders in `show`, files next to a Markdown
export, media ids in a JSON export, `delete` as before."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.cli.test_chat_attach import VISION_MODEL, pdf_bytes, png
from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi as muxi


@pytest.fixture
def session(fake_llm: FakeLLM, tmp_path: Path) -> tuple[str, bytes, bytes]:
    """A session whose first message holds an image and a PDF; returns its id and their bytes."""
    fake_llm.write_formation(tmp_path, model=VISION_MODEL)
    shot = png(tmp_path / "shot.png", (32, 16))
    report = tmp_path / "report.pdf"
    report.write_bytes(pdf_bytes())
    fake_llm.script(Text("seen both"))
    result = muxi("chat", "look at these", "-A", str(shot), "-A", str(report), "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["session_id"], shot.read_bytes(), report.read_bytes()


def test_show_prints_placeholders_with_name_type_size_and_dimensions(session) -> None:
    sid, _, _ = session
    result = muxi("sessions", "show", sid)
    assert result.returncode == 0, result.stderr
    assert "look at these" in result.stdout
    assert "[image: shot.png, image/png," in result.stdout and "32x16]" in result.stdout
    assert "[document: report.pdf, application/pdf," in result.stdout
    assert "1 pages]" in result.stdout


def test_markdown_export_writes_the_files_next_to_it_and_links_them(
    session, tmp_path: Path
) -> None:
    sid, _, report = session
    out = tmp_path / "export" / "out.md"
    result = muxi("sessions", "export", sid, "--format", "md", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "2 file(s)" in result.stderr
    folder = tmp_path / "export" / f"{sid}-media"
    written = {p.name.split("-", 1)[1]: p for p in folder.iterdir()}
    assert set(written) == {"shot.png", "report.pdf"}
    assert written["report.pdf"].read_bytes() == report  # a PDF is stored as sent
    from PIL import Image

    with Image.open(written["shot.png"]) as image:  # an image is stored cleaned, same pixels
        assert image.size == (32, 16)
    assert stat.S_IMODE(written["shot.png"].stat().st_mode) == 0o600
    text = out.read_text(encoding="utf-8")
    for path in written.values():
        assert f"]({sid}-media/{path.name})" in text
    assert "[image: shot.png, image/png," in text and "[document: report.pdf," in text


def test_markdown_to_stdout_and_json_keep_media_ids(session) -> None:
    sid, _, _ = session
    md = muxi("sessions", "export", sid, "--format", "md")
    assert md.returncode == 0 and "[image: shot.png" in md.stdout
    exported = json.loads(muxi("sessions", "export", sid, "--format", "json").stdout)
    user = next(m for m in exported["messages"] if m["role"] == "user")
    media = [p["media"] for p in user["parts"] if "media" in p]
    assert [m["name"] for m in media] == ["shot.png", "report.pdf"]
    assert all(len(m["id"]) == 64 for m in media)
    assert [m["id"] for m in exported["media"]] == [m["id"] for m in media]


def test_delete_works_as_before(session) -> None:
    sid, _, _ = session
    result = muxi("sessions", "delete", sid, "--yes")
    assert result.returncode == 0, result.stderr
    assert muxi("sessions", "show", sid).returncode == 2
