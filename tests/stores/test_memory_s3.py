"""Long-term memory on object storage: LanceDB at ``s3://`` against a real
S3-compatible server (moto's, signatures checked), shared by two services as
two replicas share it, with LanceDB's S3 commit store coordinating writers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from muxi_cli.config.schema import Formation
from muxi_cli.errors import ConfigError
from muxi_cli.memory.service import MemoryService
from muxi_cli.stores.lance_uri import configured, describe, parse
from tests.s3rig import Moto, moto


def test_memory_uris_take_the_media_url_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    where = parse("s3://team-bucket/muxi/memory/?endpoint=http://127.0.0.1:9000&region=eu-west-3")
    assert where.uri == "s3://team-bucket/muxi/memory" and where.remote
    assert where.storage_options == {
        "aws_endpoint": "http://127.0.0.1:9000",
        "aws_virtual_hosted_style_request": "false",
        "allow_http": "true",
        "aws_region": "eu-west-3",
    }
    # The concurrent-writer setting: LanceDB's DynamoDB commit store.
    ddb = parse("s3://team-bucket/m?endpoint=https://s3.example:9000&commit_table=muxi-commits")
    assert ddb.uri == "s3+ddb://team-bucket/m?ddbTableName=muxi-commits"
    assert ddb.storage_options["dynamodb_endpoint"] == "https://s3.example:9000"
    assert "allow_http" not in ddb.storage_options
    assert parse("s3://b/m").storage_options == {"aws_region": "us-east-1"}
    # Folders and other schemes go to LanceDB unchanged.
    assert parse("/data/memory").uri == "/data/memory" and not parse("/data/memory").remote
    assert parse("gs://b/m").storage_options == {}
    assert describe("s3://b/m?endpoint=http://h:1") == "s3://b/m"
    # MUXI_MEMORY_URI wins over memory.uri (as MUXI_MEDIA_URL over media.url).
    assert configured("/formation/memory") == "/formation/memory"
    monkeypatch.setenv("MUXI_MEMORY_URI", "s3://b/m")
    assert configured("/formation/memory") == configured(None) == "s3://b/m"
    for bad, why in [
        ("s3://b/m?secret=x", "Unknown option 'secret'"),
        ("s3://b/m?endpoint=ftp://h", "Invalid endpoint"),
        ("s3:///m", "No bucket"),
    ]:
        with pytest.raises(ConfigError, match=why):
            parse(bad)


@pytest.fixture(scope="module")
def s3() -> Iterator[Moto]:
    with moto() as server:
        yield server


@pytest.fixture
def s3_env(s3: Moto, monkeypatch: pytest.MonkeyPatch) -> Moto:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    return s3


def _service(uri: str, base: Path) -> MemoryService:
    formation = Formation.model_validate({"memory": {"uri": uri, "embedding": "hash"}})
    return MemoryService(formation, None, base_dir=base)


@pytest.mark.slow
@pytest.mark.parametrize("commit_store", [True, False], ids=["commit-table", "conditional-put"])
async def test_replicas_share_memories_in_a_bucket(
    s3_env: Moto, tmp_path: Path, commit_store: bool
) -> None:
    # With a commit table LanceDB coordinates writers through DynamoDB; without,
    # through the store's conditional writes (If-None-Match), which moto honours.
    bucket = s3_env.bucket(f"muxi-memory-{int(commit_store)}")
    uri = f"s3://{bucket}/team/memory?endpoint={s3_env.endpoint}"
    if commit_store:
        table = s3_env.commit_table("muxi-commits")
        uri += f"&commit_table={table}"
    one, two = _service(uri, tmp_path), _service(uri, tmp_path)
    try:
        tea = await one.add("Ada drinks green tea every morning", "ada")
        # The other replica finds it at once (read consistency: every read checks out
        # the latest version), and only for its owner.
        found = await two.search("green tea", "ada")
        assert [m.id for m in found] == [tea.id]
        assert await two.search("green tea", "bob") == []
        # Writers on both at once: their commits are serialised, none lost.
        texts = [f"Ada visited city number {i}" for i in range(8)]
        await asyncio.gather(
            *[(one if i % 2 else two).add(text, "ada") for i, text in enumerate(texts)]
        )
        listed = {m.text for m in await one.list("ada")}
        assert listed == {*texts, tea.text}
        # A forget on one replica is gone from the other's next search.
        await two.forget(tea.id, "ada")
        assert tea.id not in [m.id for m in await one.search("green tea", "ada")]
        assert len(await one.list("ada")) == len(texts)
        # The tables are in the bucket under the prefix; the commits in the table.
        keys = s3_env.keys(bucket, "team/memory/")
        assert any(k.startswith("team/memory/memories.lance/_versions/") for k in keys)
        if commit_store:
            scanned = s3_env.client("dynamodb").scan(TableName=table)["Items"]
            assert any("memories.lance" in item["base_uri"]["S"] for item in scanned)
        # Nothing of the store is on the local disk but the session-state catalog.
        assert not list(tmp_path.glob("**/*.lance"))
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.slow
async def test_a_bad_key_is_a_clear_error(
    s3_env: Moto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muxi_cli.errors import MemoryStoreError

    bucket = s3_env.bucket("muxi-refused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    svc = _service(f"s3://{bucket}/m?endpoint={s3_env.endpoint}", tmp_path)
    try:
        with pytest.raises(MemoryStoreError, match="cannot open the memory store"):
            await svc.add("anything", "ada")
    finally:
        await svc.aclose()
