"""MemoryService: management API, dedup/supersede, recall scoping and ranking."""

from __future__ import annotations

import pytest

from muxi_cli.config.schema import AgentConfig
from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.memory.base import MemoryHooks
from muxi_cli.memory.embeddings import LocalEmbedder
from muxi_cli.memory.rank import RankOptions
from muxi_cli.memory.service import MemoryService

from .conftest import formation


def test_implements_the_hooks(service: MemoryService) -> None:
    hooks: MemoryHooks = service
    assert hooks is service


async def test_nothing_opens_until_used(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from muxi_cli import paths

    svc = MemoryService(formation(embedding="hash"), None)
    assert not paths.memory_dir().exists()
    await svc.aclose()


async def test_add_list_get_forget(service: MemoryService) -> None:
    item = await service.add("User likes jazz", "alice", importance=0.8, agent="assistant")
    assert item.user_id == "alice" and item.kind == "fact" and item.importance == 0.8
    assert item.created_at.endswith("+00:00")
    assert [i.id for i in await service.list("alice")] == [item.id]
    assert await service.list("bob") == []
    assert (await service.get(item.id[:8], "alice")).text == "User likes jazz"
    with pytest.raises(NotFoundError):
        await service.get(item.id, "bob")
    with pytest.raises(NotFoundError):
        await service.forget(item.id, "bob")
    await service.forget(item.id, "alice")
    assert await service.list("alice") == []


async def test_filters_by_kind_and_agent(service: MemoryService) -> None:
    await service.add("User likes jazz", "alice", agent="dj")
    await service.add("Jazz started in New Orleans", "alice", kind="knowledge")
    assert [i.kind for i in await service.list("alice", kind="knowledge")] == ["knowledge"]
    assert [i.agent for i in await service.list("alice", agent="dj")] == ["dj"]


async def test_exact_duplicates_are_not_stored_twice(service: MemoryService) -> None:
    first = await service.add("User likes jazz.", "alice", importance=0.3)
    again = await service.add("  user LIKES   jazz ", "alice", importance=0.9)
    assert again.id == first.id
    assert again.importance == 0.9
    assert len(await service.list("alice", include_superseded=True)) == 1
    # The same text for another user is that user's own memory.
    other = await service.add("User likes jazz", "bob")
    assert other.id != first.id


async def test_near_duplicates_supersede_and_keep_a_link(service: MemoryService) -> None:
    old = await service.add("User has a dog named Rex", "alice", importance=0.7)
    new = await service.add("User has a dog, named Rex", "alice")  # same words, other text
    assert new.id != old.id
    assert new.importance == 0.7  # merged: the higher importance survives
    assert [i.id for i in await service.list("alice")] == [new.id]
    everything = {i.id: i for i in await service.list("alice", include_superseded=True)}
    assert everything[old.id].superseded_by == new.id
    assert [i.id for i in await service.history(new.id, "alice")] == [new.id, old.id]
    # Search shows a superseded row only below its successor, with the link.
    found = await service.search("dog named Rex", "alice")
    assert [i.id for i in found] == [new.id, old.id]
    assert found[1].superseded_by == new.id
    # Without the "current" ranking superseded rows leave search (both legs).
    service.ranking = RankOptions(current=False)
    assert [i.id for i in await service.search("dog named Rex", "alice")] == [new.id]
    # Forgetting a memory forgets its older versions too.
    await service.forget(new.id, "alice")
    assert await service.list("alice", include_superseded=True) == []


async def test_shared_knowledge_and_forget_user(service: MemoryService) -> None:
    shared = await service.add("The office opens at 9", "admin", kind="knowledge", shared=True)
    assert shared.user_id == "*"
    await service.add("User likes jazz", "alice")
    agent = AgentConfig(name="a")
    recalled = await service.recall("alice", agent, "when does the office open")
    assert shared.id in [r.id for r in recalled]
    assert next(r for r in recalled if r.id == shared.id).source == "shared knowledge"
    assert await service.forget_user("alice") == 1
    assert await service.list("alice") == []
    assert [i.id for i in await service.list("*")] == [shared.id]
    with pytest.raises(UsageError):
        await service.forget_user("*")


async def test_recall_is_scoped_by_user(service: MemoryService) -> None:
    await service.add("User's password hint is 'blue horse'", "alice")
    agent = AgentConfig(name="a")
    assert await service.recall("bob", agent, "password hint blue horse") == []
    assert await service.recall("alice' OR '1'='1", agent, "password hint blue horse") == []
    assert len(await service.recall("alice", agent, "password hint blue horse")) == 1


async def test_recall_respects_agent_settings(service: MemoryService) -> None:
    await service.add("User likes jazz", "alice")
    await service.add("Jazz clubs close at 2am", "alice", kind="knowledge")
    off = AgentConfig(name="a", memory={"enabled": False})
    assert await service.recall("alice", off, "jazz") == []
    no_long_term = AgentConfig(name="a", memory={"long_term": False})
    assert {r.kind for r in await service.recall("alice", no_long_term, "jazz")} == {"knowledge"}
    one = AgentConfig(name="a", memory={"recall_limit": 1})
    assert len(await service.recall("alice", one, "jazz")) == 1


async def test_recall_counts_use(service: MemoryService) -> None:
    item = await service.add("User likes jazz", "alice")
    agent = AgentConfig(name="a")
    await service.recall("alice", agent, "jazz")
    await service.recall("alice", agent, "jazz music")
    await service.settle()  # the counters are written in the background
    records = await service.records()
    row = await records.get("alice", item.id)
    assert row["use_count"] == 2
    assert row["last_used_at"] >= row["created_at"]


async def test_user_entries_win_over_shared(tmp_path, local_embedder: LocalEmbedder) -> None:  # type: ignore[no-untyped-def]
    svc = MemoryService(formation(), None, embedder=local_embedder)
    await svc.add("Prefers imperial units", "admin", kind="knowledge", shared=True)
    mine = await svc.add("User prefers metric units", "alice", kind="knowledge")
    agent = AgentConfig(name="a")
    alice = await svc.recall("alice", agent, "which units should I use?")
    assert [r.id for r in alice] == [mine.id]
    bob = await svc.recall("bob", agent, "which units should I use?")
    assert [r.text for r in bob] == ["Prefers imperial units"]
    await svc.aclose()


async def test_unrelated_memories_are_not_recalled(tmp_path, local_embedder: LocalEmbedder) -> None:  # type: ignore[no-untyped-def]
    svc = MemoryService(formation(), None, embedder=local_embedder)
    await svc.add("User's cat is called Pixel", "alice")
    recalled = await svc.recall("alice", AgentConfig(name="a"), "explain quantum chromodynamics")
    assert recalled == []
    await svc.aclose()


async def test_per_user_long_term_switch(service: MemoryService) -> None:
    assert await service.long_term_enabled("alice")
    await service.set_long_term("alice", False)
    assert not await service.long_term_enabled("alice")
    assert await service.long_term_enabled("bob")
    await service.set_long_term("alice", True)
    assert await service.long_term_enabled("alice")


async def test_bad_input(service: MemoryService) -> None:
    with pytest.raises(UsageError):
        await service.add("   ", "alice")
    with pytest.raises(UsageError):
        await service.add("x", "alice", importance=3)
    with pytest.raises(UsageError):
        await service.search(" ", "alice")
