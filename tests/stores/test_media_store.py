"""The media store on real files: dedup, owners, limits, atomicity, derived forms."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from muxi_cli.config.schema import Formation, MediaConfig
from muxi_cli.errors import MediaTooLargeError, MuxiError, NotFoundError, UsageError
from muxi_cli.stores.media import MediaStore, human_size

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
PDF = b"%PDF-1.7 " + b"page" * 10


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("index.db"))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MediaStore:
    monkeypatch.delenv("MUXI_MEDIA_URL", raising=False)
    return MediaStore(tmp_path / "media", quota_bytes=10_000)


def test_same_bytes_are_stored_once_and_listed_with_their_facts(store: MediaStore) -> None:
    ref = store.put(PNG, "image/png", "a.png", {"width": 3, "height": 2})
    again = store.put(PNG, "image/png", "b.png")
    assert ref.id == again.id == hashlib.sha256(PNG).hexdigest()
    assert again.name == "b.png" and again.meta == {"width": 3, "height": 2}
    assert _files(store.root) == [store.root / ref.id[:2] / ref.id]
    assert stat.S_IMODE((store.root / ref.id[:2] / ref.id).stat().st_mode) == 0o600
    assert stat.S_IMODE((store.root / "index.db").stat().st_mode) == 0o600
    # info is as first stored; usage counts the file once.
    info = store.info(ref.id)
    assert info is not None and (info.name, info.size, info.meta) == ("a.png", len(PNG), ref.meta)
    assert store.usage() == len(PNG)
    doc = store.put(PDF, "application/pdf", "r.pdf", {"pages": 1})
    assert [m.id for m in store.list()] == [ref.id, doc.id]
    assert store.usage() == len(PNG) + len(PDF)


def test_owners_never_see_each_others_media(store: MediaStore) -> None:
    ada, bob = store.for_owner("ada"), store.for_owner("bob")
    ref = ada.put(PNG, "image/png", "ada.png")
    assert ada.get(ref) == PNG and ada.has(ref)
    assert not bob.has(ref) and bob.info(ref.id) is None and bob.list() == []
    with pytest.raises(NotFoundError):
        bob.get(ref.id)
    with pytest.raises(NotFoundError):
        bob.delete(ref.id)
    with pytest.raises(NotFoundError):
        bob.put_derived(ref.id, "text", b"bob's words")
    ada.put_derived(ref.id, "text", b"ada's words")
    assert bob.get_derived(ref.id, "text") is None
    # The same bytes from bob: one file, one row each, each quota charged.
    bobs = bob.put(PNG, "image/png", "bob.png")
    assert bobs.id == ref.id and len(_files(store.root)) == 2  # the bytes and ada's text
    assert ada.usage() == bob.usage() == len(PNG)
    # Bob deleting his copy leaves ada's bytes and derived forms alone.
    bob.delete(ref.id)
    assert not bob.has(ref) and ada.get(ref) == PNG
    assert ada.get_derived(ref.id, "text") == b"ada's words"
    ada.delete(ref.id)
    assert _files(store.root) == [] and ada.usage() == 0
    # None and "" are the local user's namespace.
    assert store.for_owner(None).owner == store.owner == store.for_owner("").owner


def test_the_per_file_limit_refuses_before_writing(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=10)
    with pytest.raises(MediaTooLargeError, match=r"big.png is 11 bytes; media may be at most 10"):
        store.put(b"x" * 11, "image/png", "big.png")
    with pytest.raises(UsageError, match="Invalid media type"):
        store.put(b"x", "png")
    assert not (tmp_path / "media").exists()
    assert MediaTooLargeError.http_status == 413


def test_the_quota_counts_per_owner_and_names_what_is_used(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", quota_bytes=100)
    ada = store.for_owner("ada")
    ada.put(b"a" * 60, "application/octet-stream", "first.bin")
    with pytest.raises(MediaTooLargeError) as err:
        ada.put(b"b" * 41, "application/octet-stream", "second.bin")
    assert "second.bin (41 bytes) would take you over your media quota of 100 bytes" in (
        err.value.message
    )
    assert err.value.hint is not None and "You store 60 bytes of 100 bytes" in err.value.hint
    assert ada.usage() == 60 and len(_files(store.root)) == 1
    # The same bytes again cost nothing; another owner has a quota of its own.
    ada.put(b"a" * 60, "application/octet-stream")
    store.for_owner("bob").put(b"b" * 41, "application/octet-stream")
    # Deleting makes room.
    ada.delete(hashlib.sha256(b"a" * 60).hexdigest())
    ada.put(b"b" * 41, "application/octet-stream")
    assert ada.usage() == 41
    assert human_size(20 * 1024 * 1024) == "20 MB" and human_size(1536) == "1.5 KB"


def test_a_failed_write_stores_nothing(store: MediaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        store.put(PNG, "image/png", "a.png")
    monkeypatch.undo()
    assert _files(store.root) == [] and store.list() == [] and store.usage() == 0
    assert [p.name for p in store.root.rglob("*.tmp")] == []
    # A failure after the bytes are written (the index refuses) removes them.
    from muxi_cli.stores import media_index

    def broken_add(*args: object) -> None:
        raise MuxiError("index is broken")

    monkeypatch.setattr(media_index, "add", broken_add)
    with pytest.raises(MuxiError, match="index is broken"):
        store.put(PNG, "image/png", "a.png")
    monkeypatch.undo()
    assert _files(store.root) == [] and store.list() == []
    ref = store.put(PNG, "image/png", "a.png")
    assert store.get(ref) == PNG


def test_derived_forms_are_cached_validated_and_deleted_with_the_media(
    store: MediaStore,
) -> None:
    ref = store.put(PDF, "application/pdf", "r.pdf")
    assert store.get_derived(ref.id, "text") is None
    store.put_derived(ref.id, "text", "Ünïcödé report".encode())
    store.put_derived(ref.id, "fit:anthropic", b"small")
    store.put_derived(ref.id, "frame-0003.jpg", b"jpeg")
    store.put_derived(ref.id, "text", b"second version")
    assert store.get_derived(ref.id, "text") == b"second version"
    assert store.get_derived(ref.id, "fit:anthropic") == b"small"
    assert store.get_derived(ref.id, "frame-0003.jpg") == b"jpeg"
    # Derived forms count for no quota.
    assert store.usage() == len(PDF)
    for bad in ("../escape", "a/b", "a\\b", ".hidden", "", "x" * 200, "sp ace"):
        with pytest.raises(UsageError, match="derived-form key"):
            store.put_derived(ref.id, bad, b"x")
        with pytest.raises(UsageError, match="derived-form key"):
            store.get_derived(ref.id, bad)
    with pytest.raises(NotFoundError):
        store.put_derived("0" * 64, "text", b"orphan")
    store.delete(ref.id)
    assert _files(store.root) == [] and store.get_derived(ref.id, "text") is None
    with pytest.raises(NotFoundError):
        store.delete(ref.id)
    with pytest.raises(NotFoundError):
        store.get(ref)


def test_text_matches_finds_derived_text_per_owner(store: MediaStore) -> None:
    ada, bob = store.for_owner("ada"), store.for_owner("bob")
    ref = ada.put(PDF, "application/pdf")
    ada.put_derived(ref.id, "text", b"the quarterly Budget")
    assert ada.text_matches("%budget%") == [ref.id]
    assert bob.text_matches("%budget%") == []
    assert bob.text_matches("%budget%", any_owner=True) == [ref.id]


def test_bytes_damaged_or_removed_outside_muxi_are_reported(store: MediaStore) -> None:
    ref = store.put(PNG, "image/png")
    path = store.root / ref.id[:2] / ref.id
    path.write_bytes(b"tampered")
    with pytest.raises(MuxiError, match="damaged"):
        store.get(ref)
    path.unlink()
    with pytest.raises(NotFoundError, match="missing"):
        store.get(ref)
    # Putting the same bytes again repairs the file.
    store.put(PNG, "image/png")
    assert store.get(ref) == PNG


def test_the_formation_and_the_environment_configure_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MUXI_MEDIA_URL", raising=False)
    assert Formation().media == MediaConfig()
    config = MediaConfig(max_file_size="1KiB", quota="1MB")  # type: ignore[arg-type]
    store = MediaStore.from_config(config, tmp_path / "m")
    assert (store.max_bytes, store.quota_bytes) == (1024, 1_000_000)
    assert store.describe() == str(tmp_path / "m")
    with pytest.raises(ValueError, match=r"media\.url must look like s3://"):
        MediaConfig(url="https://bucket")
    monkeypatch.setenv("MUXI_MEDIA_URL", "s3://env-bucket/p?endpoint=http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    in_s3 = MediaStore.from_config(MediaConfig(url="s3://formation-bucket"), tmp_path / "m")
    assert in_s3.describe() == "s3://env-bucket/p at http://127.0.0.1:9"
    assert in_s3.root == tmp_path / "m"  # the index stays under the data folder


def test_concurrent_puts_share_one_file_and_respect_the_quota(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = MediaStore(tmp_path / "media", quota_bytes=100)
    owners = [store.for_owner(f"user{i % 4}") for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        refs = list(pool.map(lambda m: m.put(PNG, "image/png"), owners))
    assert len({r.id for r in refs}) == 1 and len(_files(store.root)) == 1
    assert all(store.for_owner(f"user{i}").usage() == len(PNG) for i in range(4))

    # One owner racing itself with files that fit the quota only one at a time.
    solo = store.for_owner("solo")
    blobs = [bytes([i]) * 60 for i in range(8)]

    def attempt(data: bytes) -> bool:
        try:
            solo.put(data, "application/octet-stream")
        except MediaTooLargeError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(attempt, blobs))
    assert won.count(True) == 1 and solo.usage() == 60
    assert len(_files(store.root)) == 2


def test_a_second_process_sees_the_same_store(tmp_path: Path) -> None:
    import subprocess
    import sys

    first = MediaStore(tmp_path / "media")
    ref = first.for_owner("ada").put(PNG, "image/png", "a.png")
    code = (
        "import sys; from pathlib import Path; from muxi_cli.stores.media import MediaStore\n"
        "m = MediaStore(Path(sys.argv[1])).for_owner('ada')\n"
        "assert m.get(sys.argv[2]) == Path(sys.argv[3]).read_bytes()\n"
        "m.put_derived(sys.argv[2], 'text', b'from another process')\n"
    )
    (tmp_path / "png").write_bytes(PNG)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "media"), ref.id, str(tmp_path / "png")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert first.for_owner("ada").get_derived(ref.id, "text") == b"from another process"
