"""The memory catalog: counts kept right by every write path, stale after a foreign
write (and recounted), the LanceDB layout its fingerprint relies on, and the
session states moved out of LanceDB."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.config.schema import AgentConfig
from muxi_cli.memory import prune as pruning
from muxi_cli.memory import transfer
from muxi_cli.memory.service import MemoryService
from muxi_cli.stores.lance_import import lancedb
from muxi_cli.stores.lance_schema import CHUNKS, MEMORIES, META, STATE, state_schema
from muxi_cli.stores.lance_store import LanceStore
from muxi_cli.stores.memory_catalog import ABSENT, MemoryCatalog, Snapshot

from .conftest import formation


async def truth(store: LanceStore) -> Snapshot:
    """What the catalog should say, counted from LanceDB itself."""
    memories: dict[tuple[str, str], int] = {}
    for row in await store.rows(MEMORIES, "TRUE", columns=["user_id", "kind"]):
        key = (row["user_id"], row["kind"])
        memories[key] = memories.get(key, 0) + 1
    chunks: dict[str, int] = {}
    for row in await store.rows(CHUNKS, "TRUE", columns=["agent"]):
        chunks[row["agent"]] = chunks.get(row["agent"], 0) + 1
    return Snapshot(memories, chunks, await store.meta())


async def assert_right(service: MemoryService) -> Snapshot:
    known = service.catalog.snapshot()
    assert known is not None, "the catalog went stale after a write of muxi's own"
    expected = await truth(await service.store())
    assert known == expected
    return known


async def test_nothing_stored_is_known_without_a_store(service: MemoryService) -> None:
    known = await service.known()
    assert known == Snapshot()
    assert service._store is None
    assert not Path(service.uri).exists()  # reading creates nothing


async def test_every_write_path_keeps_the_counts(service: MemoryService, tmp_path: Path) -> None:
    a = await service.add("User likes jazz", "alice")
    await service.add("Jazz started in New Orleans", "alice", kind="knowledge")
    await service.add("The office opens at nine", "bob", shared=True)
    await service.add("User likes tea", "bob")
    known = await assert_right(service)
    assert known.memory_count("alice") == 2 and known.memory_count("*") == 1
    await service.add("User likes jazz a lot", "alice")  # supersedes: an update, counted
    await service.add("user likes JAZZ a lot", "alice")  # a duplicate: an update
    await assert_right(service)
    await service.forget(a.id, "alice")
    await assert_right(service)
    assert await service.forget_user("bob") == 1
    assert (await assert_right(service)).memory_count("bob") == 0
    await service.set_long_term("carol", False)
    assert (await assert_right(service)).meta["long_term_off:carol"] == "1"
    assert not await service.long_term_enabled("carol")
    # Knowledge: added, re-ingested after a change, removed.
    notes = tmp_path / "notes.md"
    notes.write_text("# Tea\n\nGreen tea is steeped at 80 degrees.\n", encoding="utf-8")
    agent = AgentConfig(name="assistant")
    await service.add_knowledge(agent, notes)
    assert (await assert_right(service)).chunks["assistant"] >= 1
    notes.write_text("# Tea\n\nBlack tea wants boiling water.\n\n# More\n\nAnd more.\n")
    await service.sync_knowledge(agent, force=True)
    await assert_right(service)
    # Import (an upsert: recounted), export round trip, prune.
    store = await service.store()
    out = io.StringIO()
    await transfer.export_memories(await service.records(), out)
    items = [json.loads(line) for line in out.getvalue().splitlines()[1:]]
    for item in items:
        item["id"] += "x"
        item["user_id"] = "dave"
    await transfer.import_rows(store, service.embedder, items)
    assert (await assert_right(service)).memory_count("dave") == len(items)
    await pruning.prune(
        await service.records(), ttl_days=None, max_per_user=1, dry_run=False, user_id=None
    )
    await assert_right(service)
    await store.optimize()
    await assert_right(service)


async def test_a_foreign_write_makes_the_catalog_stale_and_it_is_recounted(
    service: MemoryService,
) -> None:
    await service.add("User likes jazz", "alice")
    store = await service.store()
    # Another program (or a process that died before its catalog update) writes.
    raw = await lancedb().connect_async(store.uri)
    table = await raw.open_table(MEMORIES)
    await table.delete("user_id = 'alice'")
    assert service.catalog.snapshot() is None
    known = await service.known()
    assert known is not None and known.memory_count("alice") == 0
    await assert_right(service)


async def test_a_lost_catalog_is_rebuilt(service: MemoryService) -> None:
    await service.add("User likes jazz", "alice")
    uri = service.uri
    await service.aclose()
    (Path(uri) / ".muxi" / "catalog.sqlite").unlink()
    again = MemoryService(formation(embedding="hash"), None, base_dir=Path(uri).parent)
    again.uri = uri
    again.catalog = MemoryCatalog(uri)
    try:
        assert again.catalog.snapshot() is None  # tables exist, nothing counted them
        known = await again.known()
        assert known is not None and known.memory_count("alice") == 1
    finally:
        await again.aclose()


async def test_the_lancedb_layout_the_fingerprint_relies_on(tmp_path: Path) -> None:
    """Fails when a LanceDB upgrade stops keeping one manifest per commit in
    ``<table>.lance/_versions``: the catalog would then trust stale counts."""
    uri = str(tmp_path / "db")
    catalog = MemoryCatalog(uri)
    assert catalog.fingerprint(MEMORIES) == ABSENT
    db = await lancedb().connect_async(uri)
    import pyarrow as pa

    schema = pa.schema([pa.field("id", pa.string()), pa.field("user_id", pa.string())])
    table = await db.create_table(MEMORIES, schema=schema)
    assert (Path(uri) / f"{MEMORIES}.lance" / "_versions").is_dir()
    seen = {catalog.fingerprint(MEMORIES)}

    async def changed() -> None:
        now = catalog.fingerprint(MEMORIES)
        assert now not in seen, "a LanceDB commit left the _versions folder as it was"
        seen.add(now)

    await table.add([{"id": "a", "user_id": "u"}, {"id": "b", "user_id": "u"}])
    await changed()
    await table.update(updates={"user_id": "v"}, where="id = 'a'")
    await changed()
    await table.delete("id = 'b'")
    await changed()
    builder = table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
    await builder.execute([{"id": "c", "user_id": "u"}])
    await changed()
    from datetime import timedelta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "removes every version": no one else reads it
        await table.optimize(cleanup_older_than=timedelta(0))
    await changed()
    assert catalog.fingerprint(MEMORIES) == catalog.fingerprint(MEMORIES)  # stable when idle


async def _old_store(uri: str, states: list[dict[str, Any]]) -> None:
    """A store as the code before the catalog left it: session states in LanceDB."""
    store = await LanceStore(uri, embedding_model="hash/384", dims=384).open()
    await store.close()
    db = await lancedb().connect_async(uri)
    table = await db.create_table(STATE, schema=state_schema())
    await table.add(states)
    # The old code had no catalog.
    for path in (Path(uri) / ".muxi").iterdir():
        path.unlink()


async def test_session_states_of_an_old_store_move_to_the_catalog(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    old = {
        "session_id": "s1", "user_id": "alice", "agent": "assistant", "summary": "tea talk",
        "covered": 4, "covered_hash": "abc", "extracted_upto": 6, "updated_at": 1.0,
    }  # fmt: skip
    await _old_store(uri, [old, {**old, "session_id": "s2", "summary": None}])
    svc = MemoryService(formation(embedding="hash", uri=uri), None)
    try:
        await svc.store()
        state = await (await svc.states()).get("s1")
        assert state is not None
        assert (state["summary"], state["covered"], state["extracted_upto"]) == ("tea talk", 4, 6)
        assert (await (await svc.states()).get("s2")) is not None
        db = await lancedb().connect_async(uri)
        assert STATE not in (await db.list_tables()).tables  # moved, not copied
        assert await (await svc.states()).delete_user("alice") == 2
    finally:
        await svc.aclose()


async def test_session_state_needs_no_store(service: MemoryService) -> None:
    states = await service.states()
    assert await states.get("s1") is None
    await states.put("s1", user_id="alice", extracted_upto=3)
    await states.put("s1", summary="about tea")
    state = await states.get("s1")
    assert state is not None and (state["extracted_upto"], state["summary"]) == (3, "about tea")
    await service.forget_session("s1")
    assert await states.get("s1") is None
    assert service._store is None
    with pytest.raises(ValueError):
        await states.put("s1", nonsense=1)


def test_meta_is_tracked() -> None:
    from muxi_cli.stores.memory_catalog import TRACKED

    assert set(TRACKED) == {MEMORIES, CHUNKS, META}


async def test_a_hung_lock_holder_does_not_stop_writers(
    service: MemoryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muxi_cli.stores import memory_catalog

    await service.add("User likes jazz", "alice")
    monkeypatch.setattr(memory_catalog, "LOCK_WAIT", 0.2)
    other = MemoryCatalog(service.uri)  # another process's handle: its own lock file open
    async with other.locked(MEMORIES) as held:
        assert held
        # The writer gives up waiting, leaves the entry stale, and writes.
        await service.add("User likes tea", "alice")
        assert service.catalog.snapshot() is None
    known = await service.known()  # recounted
    assert known is not None and known.memory_count("alice") == 2
    await assert_right(service)
