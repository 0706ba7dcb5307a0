"""``memory_search``: the model searches the user's memory mid-turn (fake LLM, real store)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.core import memory_tool
from muxi_cli.errors import MemoryStoreError
from muxi_cli.memory.base import Recalled
from muxi_cli.memory.multi import merge
from muxi_cli.memory.service import MemoryService
from muxi_cli.protocol.records import ChatRequest
from tests.fakellm import Text, ToolCalls

local = pytest.importorskip("muxi_cli.runtime.local")

ALICE = "alice"
ALICE_FACTS = {
    "diet": "User is vegetarian and never eats meat",
    "allergy": "User is allergic to peanuts",
    "cat": "User has a cat named Miso",
}
#: Bob's memories answer the same queries (some word for word): they must never show.
BOB_FACTS = ["User is allergic to shellfish", "User is vegetarian and never eats meat too"]


def _tools(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def _system(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


@pytest.fixture
async def open_runtime(
    fake_llm: Any, tmp_path: Path, local_embedder: Any
) -> AsyncIterator[Callable[..., Any]]:
    opened: list[Any] = []

    async def build(agent_memory: str = "") -> Any:
        agent = "agents:\n  - name: assistant\n    memory:\n      extract_every: 100\n"
        yaml = f"memory:\n  embedding: local\n{agent}{agent_memory}"
        path = fake_llm.write_formation(tmp_path, extra=yaml)
        runtime = await local.LocalRuntime.open(
            config_path=str(path), start_tools=False, user_id=ALICE
        )
        opened.append(runtime)
        return runtime

    yield build
    for runtime in opened:
        await runtime.aclose()


async def _chat(runtime: Any, message: str) -> list[Any]:
    turn = await runtime.chat(ChatRequest(message=message, user_id=ALICE))
    return [e async for e in turn.events()]


async def _seed(runtime: Any) -> dict[str, str]:
    ids = {}
    for key, text in ALICE_FACTS.items():
        ids[key] = (await runtime.memory_add(text, user_id=ALICE)).id
    for text in BOB_FACTS:
        ids[text] = (await runtime.memory_add(text, user_id="bob")).id
    return ids


async def test_the_model_searches_with_two_queries_merged_for_its_own_user(
    fake_llm: Any, open_runtime: Callable[..., Any]
) -> None:
    runtime = await open_runtime()
    ids = await _seed(runtime)
    bob_ids = [ids[t] for t in BOB_FACTS]
    # Hostile arguments: another user, that user's ids as queries, a huge limit.
    arguments = {
        "queries": ["vegetarian diet", "food allergies", *bob_ids[:1]],
        "user_id": "bob",
        "user": "bob",
        "limit": 500,
    }
    fake_llm.script(ToolCalls([(memory_tool.NAME, arguments)]), Text("Try the Thai place."))
    events = await _chat(runtime, "Where should we eat tonight?")

    first, second = fake_llm.requests[0], fake_llm.requests[1]
    assert memory_tool.NAME in _tools(first)
    assert memory_tool.SYSTEM_HINT in _system(first)
    requested = next(e for e in events if e.type == "tool.requested")
    assert (requested.server, requested.tool) == ("memory", memory_tool.NAME)
    approval = next(e for e in events if e.type == "tool.approval")
    assert (approval.decision, approval.by) == ("allowed", "policy")
    result = next(e for e in events if e.type == "tool.result")
    assert result.ok
    # Both needs answered in one call, each memory once, with where it comes from.
    assert ALICE_FACTS["diet"] in result.content and ALICE_FACTS["allergy"] in result.content
    assert result.content.count(ALICE_FACTS["allergy"]) == 1
    assert "(source: memory)" in result.content
    for text in BOB_FACTS:
        assert f"{text} (" not in result.content
    for bob_id in bob_ids:
        assert bob_id not in result.content
    # The model got the same text as the tool message.
    tool_message = next(m for m in second["messages"] if m["role"] == "tool")
    assert ALICE_FACTS["diet"] in tool_message["content"]
    assert "shellfish" not in tool_message["content"]
    assert events[-1].type == "run.completed"


async def test_not_offered_without_memories_and_the_store_stays_closed(
    fake_llm: Any, open_runtime: Callable[..., Any]
) -> None:
    runtime = await open_runtime()
    await _chat(runtime, "hello")
    assert memory_tool.NAME not in _tools(fake_llm.requests[0])
    assert memory_tool.SYSTEM_HINT not in _system(fake_llm.requests[0])
    memory: MemoryService = runtime.memory
    assert memory._store is None  # the catalog answered: LanceDB never opened


@pytest.mark.parametrize(
    ("agent_memory", "alice_has_memories", "offered"),
    [
        ("      search_tool: off\n", True, False),
        ("      long_term: false\n", True, False),
        ("", False, False),  # auto: only for a user with something stored
        ("      search_tool: on\n", False, True),  # YAML reads `on` as true: still "on"
    ],
)
async def test_the_switch(
    fake_llm: Any,
    open_runtime: Callable[..., Any],
    agent_memory: str,
    alice_has_memories: bool,
    offered: bool,
) -> None:
    runtime = await open_runtime(agent_memory)
    await runtime.memory_add("Somebody else's note", user_id="bob")
    if alice_has_memories:
        await runtime.memory_add(ALICE_FACTS["cat"], user_id=ALICE)
    await _chat(runtime, "hello")
    assert (memory_tool.NAME in _tools(fake_llm.requests[0])) is offered
    assert (memory_tool.SYSTEM_HINT in _system(fake_llm.requests[0])) is offered


async def test_a_provider_without_tools_is_not_offered_the_tool(
    fake_llm: Any, tmp_path: Path, local_embedder: Any
) -> None:
    yaml = (
        "default_model: plain/fake-model\n"
        f"providers:\n  plain:\n    type: openai\n    base_url: {fake_llm.openai_base_url}\n"
        "    capabilities:\n      tools: false\n"
        "memory:\n  embedding: local\n"
    )
    (tmp_path / "muxi.yaml").write_text(yaml)
    runtime = await local.LocalRuntime.open(
        config_path=str(tmp_path / "muxi.yaml"), start_tools=False, user_id=ALICE
    )
    try:
        await runtime.memory_add(ALICE_FACTS["cat"], user_id=ALICE)
        await _chat(runtime, "what is my cat called?")
        assert memory_tool.NAME not in _tools(fake_llm.requests[0])
        assert "Miso" in _system(fake_llm.requests[0])  # the automatic recall still runs
    finally:
        await runtime.aclose()


async def test_bad_arguments_are_a_failed_result_the_model_can_fix() -> None:
    from muxi_cli.config.schema import AgentConfig
    from muxi_cli.memory.base import NoMemory

    agent = AgentConfig(name="a")
    for arguments in ({}, {"queries": []}, {"queries": [""]}, {"queries": ["q"] * 6}):
        outcome = await memory_tool.run(NoMemory(), agent, ALICE, arguments)
        assert not outcome.ok and outcome.content
    outcome = await memory_tool.run(NoMemory(), agent, ALICE, {"query": "diet"})
    assert outcome.ok and outcome.content == "No stored memory matches these queries."

    class NeedsReindex(NoMemory):
        async def recall(self, user_id: str, agent: Any, query: str) -> list[Recalled]:
            raise MemoryStoreError("the memory store was embedded with another model")

    outcome = await memory_tool.run(NeedsReindex(), agent, ALICE, {"queries": ["diet"]})
    assert not outcome.ok and "another model" in outcome.content
    assert memory_tool.parse({"queries": "diet", "limit": 99}) == (["diet"], 20)


def _hit(id_: str, score: float, text: str | None = None) -> Recalled:
    return Recalled(id_, "fact", text or f"fact {id_}", score)


def test_merge_keeps_the_best_score_once_and_every_querys_top_hit() -> None:
    broad = [_hit("a", 0.9), _hit("b", 0.8), _hit("c", 0.7), _hit("d", 0.6)]
    narrow = [_hit("x", 0.3), _hit("a", 0.95)]
    merged = merge([broad, narrow], limit=3)
    # "x" is the narrow query's best: it stays although four hits score higher.
    assert [r.id for r in merged] == ["a", "b", "x"]
    assert merged[0].score == 0.95
    # The same text under two ids is given once (the better one).
    twins = merge([[_hit("s", 0.5, "User likes tea."), _hit("t", 0.6, "user likes  tea")]], 5)
    assert [r.id for r in twins] == ["t"]
    assert merge([], 5) == []
