"""Sessions and their media: listing, refcounted delete, search of derived text."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.config.schema import MediaConfig
from muxi_cli.errors import NotFoundError
from muxi_cli.protocol.messages import DocumentPart, ImagePart, TextPart, ToolResultPart
from muxi_cli.stores.sessions import SessionStore

PNG = b"\x89PNG\r\n\x1a\n session image"
PDF = b"%PDF-1.7 session document"
WAV = b"RIFF....WAVEfmt session audio"


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions.db")


def _blobs(store: SessionStore) -> list[str]:
    root = store.media.root
    return sorted(p.name for p in root.rglob("*") if p.is_file() and len(p.name) == 64)


def test_messages_with_media_fill_session_media_in_order(store: SessionStore) -> None:
    ada = store.media.for_owner("ada")
    png = ada.put(PNG, "image/png", "shot.png")
    pdf = ada.put(PDF, "application/pdf", "r.pdf")
    s = store.create_session("ada")
    store.add_message(s.id, "user", "look", parts=[TextPart("look"), ImagePart(png)])
    store.add_message(
        s.id,
        "tool",
        "a report",
        tool_call_id="c1",
        parts=[ToolResultPart("c1", (TextPart("a report"), DocumentPart(pdf), ImagePart(png)))],
    )
    store.add_message(s.id, "assistant", "seen")
    assert store.session_media(s.id) == [png, pdf]
    assert store.session_media(s.id, user_id="ada") == [png, pdf]
    with pytest.raises(NotFoundError):
        store.session_media(s.id, user_id="bob")
    empty = store.create_session("ada")
    assert store.session_media(empty.id) == []


def test_deleting_a_session_deletes_media_no_other_session_of_its_owner_uses(
    store: SessionStore,
) -> None:
    ada, bob = store.media.for_owner("ada"), store.media.for_owner("bob")
    png = ada.put(PNG, "image/png")
    pdf = ada.put(PDF, "application/pdf")
    wav = ada.put(WAV, "audio/wav")
    bob.put(PNG, "image/png")
    ada.put_derived(pdf.id, "text", b"pdf words")
    first, second = store.create_session("ada"), store.create_session("ada")
    bobs = store.create_session("bob")
    store.add_message(first.id, "user", "x", parts=[ImagePart(png), DocumentPart(pdf)])
    store.add_message(second.id, "user", "y", parts=[ImagePart(png)])
    store.add_message(bobs.id, "user", "z", parts=[ImagePart(png)])

    store.delete_session(first.id)
    # The PDF was only in the deleted session: gone, with its derived text.
    assert not ada.has(pdf) and ada.get_derived(pdf.id, "text") is None
    # The image is still in ada's other session; the audio was never in one.
    assert ada.get(png) == PNG and ada.get(wav) == WAV
    store.delete_session(second.id)
    assert not ada.has(png)
    # Bob's copy of the same bytes is his own.
    assert bob.get(png) == PNG and png.id in _blobs(store)
    store.delete_session(bobs.id)
    assert not bob.has(png)
    assert _blobs(store) == [wav.id]


def test_deleting_a_session_survives_media_deleted_already(store: SessionStore) -> None:
    ada = store.media.for_owner("ada")
    png = ada.put(PNG, "image/png")
    s = store.create_session("ada")
    store.add_message(s.id, "user", "x", parts=[ImagePart(png)])
    ada.delete(png.id)
    store.delete_session(s.id)
    with pytest.raises(NotFoundError):
        store.get_session(s.id)


def test_search_matches_text_derived_from_attachments(store: SessionStore) -> None:
    ada, bob = store.media.for_owner("ada"), store.media.for_owner("bob")
    pdf = ada.put(PDF, "application/pdf", "r.pdf")
    ada.put_derived(pdf.id, "text", "Quarterly Zebra revenue, Ünïcödé".encode())
    with_pdf = store.create_session("ada", title="a chat")
    store.add_message(with_pdf.id, "user", "summarise", parts=[DocumentPart(pdf)])
    plain = store.create_session("ada", title="another")
    store.add_message(plain.id, "user", "nothing about animals")
    bobs = store.create_session("bob")
    store.add_message(bobs.id, "user", "hi")

    assert [s.id for s in store.list_sessions("ada", query="zebra")] == [with_pdf.id]
    assert [s.id for s in store.list_sessions("ada", query="ünïcödé")] != []
    assert [s.id for s in store.list_sessions(query="zebra")] == [with_pdf.id]
    assert store.list_sessions("bob", query="zebra") == []
    # Bob sending the same bytes finds his own session by the shared derived text.
    bob.put(PDF, "application/pdf")
    store.add_message(bobs.id, "user", "mine too", parts=[DocumentPart(pdf)])
    assert [s.id for s in store.list_sessions("bob", query="zebra")] == [bobs.id]
    # Message text and titles still match as before.
    assert [s.id for s in store.list_sessions("ada", query="animals")] == [plain.id]


def test_the_store_takes_its_media_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MUXI_MEDIA_URL", raising=False)
    config = MediaConfig(max_file_size="2KiB", quota="1MiB")  # type: ignore[arg-type]
    with SessionStore(tmp_path / "db" / "sessions.db", media_config=config) as store:
        assert store.media.root == tmp_path / "db" / "media"
        assert (store.media.max_bytes, store.media.quota_bytes) == (2048, 1024 * 1024)
