"""The media store in object storage, against a real S3-compatible server
(moto's, on 127.0.0.1) that checks every request's SigV4 signature."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from muxi_cli.errors import ConfigError, MuxiError, NotFoundError
from muxi_cli.stores.media import MediaStore
from muxi_cli.stores.media_s3 import Credentials, S3Client, S3Location, parse_url, sign
from tests.s3rig import moto

BUCKET = "muxi-media"


def test_the_signature_is_the_documented_one() -> None:
    # The GET Object example of the S3 SigV4 documentation (20130524, examplebucket).
    headers = sign(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        {"Range": "bytes=0-9"},
        hashlib.sha256(b"").hexdigest(),
        Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_media_urls_are_checked() -> None:
    loc = parse_url("s3://bucket-1/some/prefix/?endpoint=http://127.0.0.1:9000&region=eu-west-3")
    assert (loc.bucket, loc.prefix, loc.endpoint, loc.region) == (
        "bucket-1", "some/prefix", "http://127.0.0.1:9000", "eu-west-3"
    )  # fmt: skip
    assert loc.url("ab/x y") == "http://127.0.0.1:9000/bucket-1/some/prefix/ab/x%20y"
    assert parse_url("s3://bucket-1").url("k") == "https://bucket-1.s3.us-east-1.amazonaws.com/k"
    for bad, why in [
        ("http://bucket", "Not an object storage URL"),
        ("s3://Bad_Bucket", "Invalid bucket name"),
        ("s3://bucket?endpoint=ftp://x", "Invalid endpoint"),
        ("s3://bucket?endpoint=http://h/path", "Invalid endpoint"),
        ("s3://bucket?secret=x", "Unknown option 'secret'"),
    ]:
        with pytest.raises(ConfigError, match=why):
            parse_url(bad)


def test_missing_credentials_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    store = MediaStore(tmp_path / "media", url="s3://bucket-1?endpoint=http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="no credentials"):
        store.put(b"x", "image/png")
    assert store.list() == []


@pytest.fixture(scope="module")
def s3_server() -> Iterator[tuple[str, Credentials]]:
    """moto's S3 server with authentication on (tests/s3rig.py): every request
    must be signed by the key made for the test, which may use S3 only."""
    with moto(actions="s3:*") as server:
        creds = Credentials(server.access_key, server.secret_key)
        url = f"{server.endpoint}/{BUCKET}"
        headers = sign(
            "PUT", url, {}, hashlib.sha256(b"").hexdigest(), creds, "us-east-1", datetime.now(UTC)
        )
        headers.pop("host")
        assert httpx.put(url, headers=headers).status_code == 200
        yield server.endpoint, creds


@pytest.fixture
def s3_env(s3_server: tuple[str, Credentials], monkeypatch: pytest.MonkeyPatch) -> str:
    endpoint, creds = s3_server
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    return endpoint


def _object(endpoint: str, creds: Credentials, key: str) -> bytes | None:
    client = S3Client(S3Location(BUCKET, "", endpoint), creds)
    try:
        return client.get(key)
    finally:
        client.close()


@pytest.mark.slow
def test_round_trip_through_object_storage(
    s3_env: str, s3_server: tuple[str, Credentials], tmp_path: Path
) -> None:
    endpoint, creds = s3_server
    url = f"s3://{BUCKET}/team/media?endpoint={endpoint}&region=us-east-1"
    store = MediaStore(tmp_path / "media", url=url, quota_bytes=1000)
    ada = store.for_owner("ada")
    try:
        ref = ada.put(b"%PDF-1.4 in s3", "application/pdf", "s3.pdf", {"pages": 1})
        blob = f"team/media/{ref.id[:2]}/{ref.id}"
        assert _object(endpoint, creds, blob) == b"%PDF-1.4 in s3"
        assert ada.get(ref) == b"%PDF-1.4 in s3" and ada.info(ref.id) == ref
        ada.put_derived(ref.id, "text", b"words in s3")
        ada.put_derived(ref.id, "fit:anthropic", b"fitted")
        assert ada.get_derived(ref.id, "fit:anthropic") == b"fitted"
        assert _object(endpoint, creds, f"team/media/derived/{ref.id[:2]}/{ref.id}/text") == (
            b"words in s3"
        )
        assert ada.text_matches("%words%") == [ref.id]
        # Only the index is local.
        assert sorted(p.name for p in (tmp_path / "media").iterdir()) == [
            n for n in ("index.db", "index.db-shm", "index.db-wal")
            if (tmp_path / "media" / n).exists()
        ]  # fmt: skip
        with pytest.raises(NotFoundError):
            store.for_owner("bob").get(ref)
        ada.delete(ref.id)
        assert _object(endpoint, creds, blob) is None
        assert _object(endpoint, creds, f"team/media/derived/{ref.id[:2]}/{ref.id}/text") is None
        assert ada.list() == [] and ada.usage() == 0
    finally:
        store.close()


@pytest.mark.slow
def test_a_refused_upload_stores_nothing(
    s3_env: str, s3_server: tuple[str, Credentials], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, _ = s3_server
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = MediaStore(tmp_path / "media", url=f"s3://{BUCKET}?endpoint={endpoint}")
    with pytest.raises(MuxiError, match="SignatureDoesNotMatch"):
        store.put(b"bytes", "image/png", "x.png")
    assert store.list() == [] and store.usage() == 0
    store.close()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server[1].secret_key)
    missing = MediaStore(tmp_path / "media", url=f"s3://no-such-bucket?endpoint={endpoint}")
    with pytest.raises(MuxiError, match="NoSuchBucket"):
        missing.put(b"bytes", "image/png", "x.png")
    assert missing.list() == []
    missing.close()
