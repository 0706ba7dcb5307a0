"""The content-addressed media store, on real files in the temp MUXI_HOME."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from muxi_cli import paths
from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.stores.media import MediaStore
from muxi_cli.stores.sessions import SessionStore


def test_put_and_get_by_sha256(muxi_home: Path) -> None:
    store = MediaStore()
    assert store.root == paths.data_dir() / "media"
    ref = store.put(b"\x89PNG bytes", "image/png", "dot.png")
    assert ref.id == hashlib.sha256(b"\x89PNG bytes").hexdigest()
    assert (ref.media_type, ref.size, ref.name) == ("image/png", 10, "dot.png")
    assert store.get(ref) == b"\x89PNG bytes" and store.get(ref.id) == b"\x89PNG bytes"
    path = store.root / ref.id[:2] / ref.id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The same bytes are stored once, whatever their name.
    again = store.put(b"\x89PNG bytes", "image/png", "other.png")
    assert again.id == ref.id and again.name == "other.png"
    assert [p.name for p in path.parent.iterdir()] == [ref.id]


def test_size_limit_and_bad_input_are_clear_errors(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=10)
    with pytest.raises(UsageError, match=r"big.png is 11 bytes; media may be at most 10 bytes"):
        store.put(b"x" * 11, "image/png", "big.png")
    with pytest.raises(UsageError, match="Invalid media type"):
        store.put(b"x", "png")
    with pytest.raises(NotFoundError, match="No media"):
        store.get("0" * 64)
    with pytest.raises(NotFoundError, match=r"No media '\.\./"):
        store.get("../../etc/passwd")
    assert not store.has("../x") and not (tmp_path / "media").exists()


def test_the_session_store_keeps_media_beside_its_database(tmp_path: Path) -> None:
    with SessionStore(tmp_path / "db" / "sessions.db") as sessions:
        assert sessions.media.root == tmp_path / "db" / "media"


def test_updates_replace_text_and_calls_and_keep_media(tmp_path: Path) -> None:
    from muxi_cli.protocol.messages import ImagePart, TextPart, ToolCallPart

    with SessionStore(tmp_path / "sessions.db") as store:
        info = store.create_session("u1")
        ref = store.media.put(b"img", "image/png")
        msg = store.add_message(
            info.id,
            "assistant",
            "draft",
            status="streaming",
            parts=[TextPart("draft"), ImagePart(ref)],
        )
        store.update_message(msg.id, content="final text")
        store.update_message(
            msg.id, status="complete", tool_calls=[{"id": "c1", "name": "t", "arguments": {"x": 1}}]
        )
        (stored,) = store.messages(info.id)
    assert stored.content == "final text"
    assert stored.parts == [
        TextPart("final text"),
        ImagePart(ref),
        ToolCallPart("c1", "t", {"x": 1}),
    ]
