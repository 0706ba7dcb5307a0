"""Exports of sessions with media: Markdown links to files, JSON keeps media ids."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.protocol.messages import (
    AudioPart,
    DocumentPart,
    ImagePart,
    MediaRef,
    TextPart,
    ToolResultPart,
)
from muxi_cli.stores.session_export import (
    export_session,
    load_export,
    media_file_name,
    media_links,
)
from muxi_cli.stores.sessions import SessionStore

USER = "tester"
PNG = b"\x89PNG\r\n\x1a\n exported image"
PDF = b"%PDF-1.7 exported document"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionStore]:
    monkeypatch.setenv("MUXI_USER_ID", USER)
    monkeypatch.delenv("MUXI_MEDIA_URL", raising=False)
    s = SessionStore()
    yield s
    s.close()


def _session(store: SessionStore) -> tuple[str, MediaRef, MediaRef]:
    media = store.media.for_owner(USER)
    png = media.put(PNG, "image/png", "my shot [1].png", {"width": 4, "height": 3})
    pdf = media.put(PDF, "application/pdf", None)
    info = store.create_session(USER, title="With files")
    store.add_message(info.id, "user", "look", parts=[TextPart("look"), ImagePart(png)])
    store.add_message(
        info.id,
        "tool",
        "the report",
        tool_call_id="c1",
        meta={"tool": "report", "server": "docs", "ok": True},
        parts=[ToolResultPart("c1", (TextPart("the report"), DocumentPart(pdf)))],
    )
    return info.id, png, pdf


def test_markdown_links_every_file_into_a_folder_next_to_it(store: SessionStore) -> None:
    sid, png, pdf = _session(store)
    info, msgs = store.get_session(sid), store.messages(sid)
    links = media_links(info, msgs)
    assert links == {
        png.id: f"{sid}-media/{png.id[:12]}-my_shot_1_.png",
        pdf.id: f"{sid}-media/{pdf.id[:12]}.pdf",
    }
    md = export_session(info, msgs, "md")
    assert (
        f"look\n[image: my shot \\[1\\].png, image/png, {len(PNG)} bytes, 4x3]"
        f"({links[png.id]})" in md
    )
    # A tool result's file is linked inside its details, after its text.
    tool = md[md.index("<details>") : md.index("</details>")]
    assert f"[document: application/pdf, {len(PDF)} bytes]({links[pdf.id]})" in tool


def test_json_keeps_media_ids(store: SessionStore) -> None:
    sid, png, pdf = _session(store)
    info, msgs = store.get_session(sid), store.messages(sid)
    doc = json.loads(export_session(info, msgs, "json"))
    assert doc["media"] == [png.to_dict(), pdf.to_dict()]
    assert doc["messages"][0]["parts"][1] == {"type": "image", "media": png.to_dict()}
    again_info, again = load_export(export_session(info, msgs, "json"))
    assert (again_info, again) == (info, msgs)


def test_file_names_are_safe() -> None:
    ref = MediaRef("ab" * 32, "audio/wav", 3, "../../etc/passwd")
    assert media_file_name(ref) == "abababababab-etc_passwd"
    assert media_file_name(MediaRef("cd" * 32, "audio/x-unknown", 3)) == "cdcdcdcdcdcd.bin"
    assert "/" not in media_file_name(MediaRef("ef" * 32, "image/png", 1, "a/b\\c.png"))
    assert AudioPart(ref).placeholder().startswith("[audio: ../../etc/passwd")


def test_cli_export_writes_the_linked_files(store: SessionStore, tmp_path: Path) -> None:
    from muxi_cli.runtime.local import LocalRuntime

    if not hasattr(LocalRuntime, "session_media"):
        pytest.skip("LocalRuntime.session_media/get_media come with the cli lane's branch")
    sid, png, pdf = _session(store)
    target = tmp_path / "out" / "chat.md"
    result = CliRunner().invoke(app, ["sessions", "export", sid, "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    folder = target.parent / f"{sid}-media"
    assert (folder / f"{png.id[:12]}-my_shot_1_.png").read_bytes() == PNG
    assert (folder / f"{pdf.id[:12]}.pdf").read_bytes() == PDF
    assert stat.S_IMODE((folder / f"{pdf.id[:12]}.pdf").stat().st_mode) == 0o600
    assert "2 file(s)" in result.stderr
