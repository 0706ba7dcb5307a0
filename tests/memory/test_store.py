"""The LanceDB store: schema version, migration, embedding-model guard, maintenance."""

from __future__ import annotations

from pathlib import Path

import lancedb
import pyarrow as pa
import pytest

from muxi_cli import paths
from muxi_cli.errors import MemoryStoreError
from muxi_cli.memory import transfer
from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.memory.service import MemoryService
from muxi_cli.stores.lance_fusion import fuse_rrf
from muxi_cli.stores.lance_records import MemoryRecords
from muxi_cli.stores.lance_schema import MEMORIES, SCHEMA_VERSION
from muxi_cli.stores.lance_store import LanceStore

from .conftest import formation


class OtherHash(HashEmbedder):
    """Same vectors, another model name (stands in for a model change)."""

    name = "hash/other"


class WideHash(HashEmbedder):
    name = "hash/512"
    dims = 512


async def _open(path: Path, embedder: HashEmbedder) -> LanceStore:
    return await LanceStore(str(path), embedding_model=embedder.name, dims=embedder.dims).open()


async def test_default_location_is_the_absolute_memory_dir(service: MemoryService) -> None:
    await service.add("User likes tea", "u1")
    store = await service.store()
    assert Path(store.uri) == paths.memory_dir()
    assert Path(store.uri).is_absolute()
    assert (paths.memory_dir() / "memories.lance").is_dir()


async def test_relative_uri_becomes_absolute(tmp_path: Path) -> None:
    store = LanceStore("db-relative", embedding_model="hash/384", dims=384)
    assert Path(store.uri).is_absolute()
    await store.open()
    await store.close()


async def test_meta_records_version_and_model(store: LanceStore) -> None:
    meta = await store.meta()
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["embedding_model"] == HashEmbedder.name
    assert meta["dims"] == "384"
    indexes = {
        tuple(ix.columns): ix.index_type for ix in await store.table(MEMORIES).list_indices()
    }
    assert indexes[("user_id",)] == "Bitmap"
    assert indexes[("text",)] == "FTS"


async def test_newer_store_is_refused(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s", HashEmbedder())
    await store.set_meta(schema_version=str(SCHEMA_VERSION + 1))
    await store.close()
    with pytest.raises(MemoryStoreError) as info:
        await _open(tmp_path / "s", HashEmbedder())
    assert "newer" in info.value.message
    assert "upgrade muxi" in (info.value.hint or "")


async def test_store_without_meta_is_migrated(tmp_path: Path) -> None:
    """A version-0 store (no meta table, fewer columns) gains the columns, rows intact."""
    db = await lancedb.connect_async(str(tmp_path / "old"))
    old_schema = pa.schema(
        [
            ("id", pa.string()),
            ("user_id", pa.string()),
            ("kind", pa.string()),
            ("text", pa.string()),
            ("vector", pa.list_(pa.float32(), 384)),
            ("created_at", pa.float64()),
        ]
    )
    vector = HashEmbedder().embed_sync(["User rides a bike"])[0].tolist()
    await db.create_table(
        MEMORIES,
        pa.Table.from_pylist(
            [
                {
                    "id": "old1",
                    "user_id": "u",
                    "kind": "fact",
                    "text": "User rides a bike",
                    "vector": vector,
                    "created_at": 1.0,
                }
            ],
            schema=old_schema,
        ),
    )
    store = await _open(tmp_path / "old", HashEmbedder())
    meta = await store.meta()
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    row = await MemoryRecords(store).get("u", "old1")
    assert row["text"] == "User rides a bike"
    assert row["superseded_by"] is None and row["importance"] == pytest.approx(0.5)
    assert "agent" in (await store.table(MEMORIES).schema()).names
    await store.close()


async def test_model_change_requires_reindex(tmp_path: Path) -> None:
    uri = str(tmp_path / "s")
    svc = MemoryService(formation(embedding="hash", uri=uri), None)
    first = await svc.add("User prefers green tea", "u1")
    await svc.aclose()

    changed = MemoryService(formation(uri=uri), None, embedder=OtherHash())
    # Listing works, anything with vectors says what to do.
    assert [i.id for i in await changed.list("u1")] == [first.id]
    with pytest.raises(MemoryStoreError) as info:
        await changed.search("tea", "u1")
    assert "muxi memory reindex" in (info.value.hint or "")
    with pytest.raises(MemoryStoreError):
        await changed.add("User likes coffee", "u1")

    counts = await transfer.reindex(await changed.store(), changed.embedder)
    assert counts["memories"] == 1
    hits = await changed.search("green tea", "u1")
    assert hits[0].id == first.id
    assert (await (await changed.store()).meta())["embedding_model"] == "hash/other"
    await changed.aclose()


async def test_reindex_to_other_dimensions(tmp_path: Path) -> None:
    uri = str(tmp_path / "s")
    svc = MemoryService(formation(embedding="hash", uri=uri), None)
    item = await svc.add("User owns a red kayak", "u1", kind="knowledge")
    await svc.aclose()
    wide = MemoryService(formation(uri=uri), None, embedder=WideHash())
    store = await wide.store()
    assert store.mismatch == "hash/384"
    await transfer.reindex(store, wide.embedder)
    assert (await store.meta())["dims"] == "512"
    again = await wide.get(item.id, "u1")
    assert again.text == "User owns a red kayak" and again.kind == "knowledge"
    assert (await wide.search("kayak", "u1"))[0].id == item.id
    await wide.aclose()


async def test_empty_store_switches_model_silently(tmp_path: Path) -> None:
    await (await _open(tmp_path / "s", HashEmbedder())).close()
    store = await _open(tmp_path / "s", WideHash())
    assert store.mismatch is None
    assert (await store.meta())["embedding_model"] == "hash/512"
    await store.close()


async def test_optimize_compacts_and_drops_versions(service: MemoryService) -> None:
    for i in range(5):
        await service.add(f"User fact number {i}", "u1")
    store = await service.store()
    stats = await store.optimize()
    assert set(stats) >= {"memories", "chunks"}
    assert stats["memories"]["fragments_removed"] >= 2
    assert len(await service.list("u1")) == 5


async def test_periodic_optimize(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    store = LanceStore(
        str(tmp_path / "s"), embedding_model=embedder.name, dims=384, optimize_every=3
    )
    await store.open()
    records = MemoryRecords(store)
    for i in range(4):
        text = f"fact {i}"
        await records.add([{"user_id": "u", "kind": "fact", "text": text, "content_hash": text,
                            "vector": embedder.embed_sync([text])[0].tolist()}])  # fmt: skip
    # The third write started optimize() in the background, which brought the
    # indexes up to date; the writes did not wait for it.
    await store.maintenance.wait()
    assert store.maintenance.runs >= 1
    listed = await store.table(MEMORIES).list_indices()
    fts = next(ix for ix in listed if ix.columns == ["text"])
    assert fts.num_indexed_rows >= 3
    await store.close()


def test_rrf_fusion_prefers_rows_both_legs_found() -> None:
    vec = [{"id": "a", "_distance": 0.1}, {"id": "b", "_distance": 0.2}]
    fts = [{"id": "b", "_score": 3.0}, {"id": "c", "_score": 1.0}]
    fused = fuse_rrf(vec, fts, limit=3)
    assert [r["id"] for r in fused] == ["b", "a", "c"]
    assert fused[0]["_similarity"] == pytest.approx(0.8)
    assert fused[2]["_similarity"] is None and fused[2]["_fts"] == 1.0


async def test_relative_memory_uri_is_relative_to_the_formation(tmp_path: Path) -> None:
    svc = MemoryService(
        formation(embedding="hash", uri="mem-store"), None, base_dir=tmp_path / "proj"
    )
    assert svc.uri == str(tmp_path / "proj" / "mem-store")
    await svc.aclose()


def test_importing_the_memory_layer_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, muxi_cli.memory.service, muxi_cli.cli.memory, muxi_cli.cli.knowledge;"
        "print(sorted(m for m in ('lancedb', 'pyarrow', 'numpy', 'onnxruntime', 'tokenizers',"
        " 'openai', 'pypdf', 'bs4') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _v1_memories_schema(dims: int) -> pa.Schema:
    """The ``memories`` table as schema version 1 wrote it (frozen here on purpose)."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("content_hash", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dims)),
            pa.field("embedding_model", pa.string()),
            pa.field("created_at", pa.float64()),
            pa.field("updated_at", pa.float64()),
            pa.field("last_used_at", pa.float64()),
            pa.field("use_count", pa.int32()),
            pa.field("importance", pa.float32()),
            pa.field("superseded_by", pa.string()),
            pa.field("source", pa.string()),
            pa.field("position", pa.string()),
            pa.field("agent", pa.string()),
        ]
    )


async def test_version_1_store_is_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written by schema version 1 (the same open and write path, the old
    layout, its indexes and meta) gains the version 2 columns in place: NULL subject
    and dates (read from the text), and ``qvector`` equal to ``vector``."""
    from muxi_cli.stores import lance_store
    from muxi_cli.stores.lance_schema import schema_for

    embedder = HashEmbedder()

    def v1_schema(name: str, dims: int) -> pa.Schema:
        return _v1_memories_schema(dims) if name == MEMORIES else schema_for(name, dims)

    with monkeypatch.context() as patch:
        patch.setattr(lance_store, "SCHEMA_VERSION", 1)
        patch.setattr(lance_store, "schema_for", v1_schema)
        old = await _open(tmp_path / "s", embedder)
        texts = ["User lives in Berlin since 2019", "User's wife Maya is vegan"]
        vectors = embedder.embed_sync(texts)
        rows = [
            {
                "id": f"old{n}", "user_id": "u", "kind": "fact", "text": text,
                "content_hash": "", "vector": vectors[n].tolist(), "created_at": 1.7e9,
                "updated_at": 1.7e9, "last_used_at": 1.7e9, "use_count": 0,
                "importance": 0.5, "superseded_by": None, "source": None,
                "position": None, "agent": None,
            }
            for n, text in enumerate(texts)
        ]  # fmt: skip
        # The rows version 1 wrote (today's LanceStore.add would also fill in qvector).
        await old.table(MEMORIES).add(rows)
        assert (await old.meta())["schema_version"] == "1"
        await old.close()

    store = await _open(tmp_path / "s", embedder)
    assert (await store.meta())["schema_version"] == str(SCHEMA_VERSION) == "2"
    names = (await store.table(MEMORIES).schema()).names
    assert {"subject", "dates", "valid_from", "valid_until", "questions", "qvector"} <= set(names)
    assert "qvector" not in (await store.table("chunks").schema()).names
    records = MemoryRecords(store)
    row = await records.get("u", "old0", vector=True)
    assert row["subject"] is None and row["dates"] is None and row["questions"] is None
    assert row["qvector"] == pytest.approx(row["vector"])
    await store.close()

    svc = MemoryService(formation(embedding="hash", uri=str(tmp_path / "s")), None)
    item = await svc.get("old1", "u")
    assert item.subject == "spouse" and item.questions == []  # read from the text
    assert "2019" in (await svc.get("old0", "u")).dates
    assert (await svc.search("Berlin", "u"))[0].id == "old0"
    new = await svc.add("User lives in Lisbon since 2026", "u", replaces=["old0"])
    assert (await svc.get("old0", "u")).superseded_by == new.id
    await svc.aclose()


async def test_a_memory_written_without_qvector_gets_its_vector(store: LanceStore) -> None:
    vector = HashEmbedder().embed_sync(["User rides a bike"])[0].tolist()
    await store.add(
        MEMORIES, [{"id": "r1", "user_id": "u", "kind": "fact", "text": "x", "vector": vector}]
    )
    row = await MemoryRecords(store).get("u", "r1", vector=True)
    assert row["qvector"] == pytest.approx(vector) and row["subject"] is None
