"""Long-term extraction after turns, driven by the fake LLM server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import Message
from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.memory.extract import parse_facts
from muxi_cli.memory.service import MemoryService
from tests.fakellm import JSONReply, Text

from .conftest import fake_formation, registry_for


def _service(fake_llm: Any, tmp_path: Path, extra: str = "") -> MemoryService:
    form = fake_formation(fake_llm, extra="memory:\n  embedding: hash\n" + extra)
    return MemoryService(form, registry_for(form), base_dir=tmp_path, embedder=HashEmbedder())


def _chat(*pairs: tuple[str, str]) -> list[Message]:
    out = []
    for user, assistant in pairs:
        out += [Message("user", user), Message("assistant", assistant)]
    return out


AGENT = AgentConfig(name="assistant", memory={"extract_every": 4})


async def test_facts_are_extracted_every_n_messages(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    history = _chat(("I live in Lisbon", "Nice city!"))
    await svc.after_turn("alice", AGENT, "s1", history)
    assert fake_llm.requests == []  # 2 messages < extract_every

    history += _chat(("I'm vegetarian, by the way", "Noted."))
    fake_llm.script(
        JSONReply(
            {"facts": [
                {"text": "User lives in Lisbon", "importance": 0.6},
                {"text": "User is vegetarian", "importance": 0.9},
            ]}
        )
    )  # fmt: skip
    await svc.after_turn("alice", AGENT, "s1", history)
    assert len(fake_llm.requests) == 1
    prompt = " ".join(str(m.get("content")) for m in fake_llm.requests[0]["messages"])
    assert "I live in Lisbon" in prompt and "durable facts" in prompt
    items = {i.text: i for i in await svc.list("alice")}
    assert set(items) == {"User lives in Lisbon", "User is vegetarian"}
    assert items["User is vegetarian"].importance == 0.9
    assert items["User is vegetarian"].agent == "assistant"
    assert items["User is vegetarian"].source == "extraction"
    assert await svc.list("bob") == []

    # Nothing new since the last extraction: no call.
    await svc.after_turn("alice", AGENT, "s1", history)
    assert len(fake_llm.requests) == 1
    await svc.aclose()


async def test_duplicates_and_replacements(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    old = await svc.add("User lives in Lisbon", "alice")
    bobs = await svc.add("User lives in Oslo", "bob")

    def answer(request: dict[str, Any]) -> JSONReply:
        prompt = " ".join(str(m.get("content")) for m in request["messages"])
        assert old.id in prompt  # known memories are offered with their ids
        assert bobs.id not in prompt  # never another user's
        return JSONReply(
            {"facts": [
                {"text": "user lives in lisbon.", "importance": 0.5},  # exact duplicate
                {"text": "User moved to Porto", "importance": 0.8, "replaces": [old.id]},
                {"text": "User hijacks", "replaces": [bobs.id]},  # not alice's: ignored
            ]}
        )  # fmt: skip

    fake_llm.script(answer)
    history = _chat(("I moved to Porto last month", "Congrats!"), ("It's great", "Enjoy"))
    await svc.after_turn("alice", AGENT, "s1", history)
    current = {i.text: i for i in await svc.list("alice")}
    assert set(current) == {"User moved to Porto", "User hijacks"}
    everything = {i.id: i for i in await svc.list("alice", include_superseded=True)}
    assert everything[old.id].superseded_by == current["User moved to Porto"].id
    assert (await svc.get(bobs.id, "bob")).superseded_by is None
    await svc.aclose()


async def test_switches(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    history = _chat(("a", "b"), ("c", "d"), ("e", "f"))
    off = AgentConfig(name="assistant", memory={"long_term": False, "extract_every": 2})
    await svc.after_turn("alice", off, "s1", history)
    await svc.set_long_term("alice", False)
    await svc.after_turn("alice", AGENT, "s1", history)
    assert fake_llm.requests == []
    await svc.aclose()


async def test_extraction_model_and_bad_answers(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path, extra="  extraction_model: openai/extractor\n")
    fake_llm.script(Text("I could not find any facts, sorry."))
    await svc.after_turn("alice", AGENT, "s1", _chat(("a", "b"), ("c", "d")))
    assert fake_llm.requests[0]["model"] == "extractor"
    assert await svc.list("alice") == []
    await svc.aclose()


def test_parse_facts_is_lenient() -> None:
    answer = (
        'Sure!\n```json\n{"facts": ["User likes tea", {"text": "", "importance": 1},'
        ' {"text": "User is 40", "importance": "high"}, {"text": "User sings", "importance": 7}]}\n```'
    )
    facts = parse_facts(answer)
    assert [f["text"] for f in facts] == ["User likes tea", "User is 40", "User sings"]
    assert facts[1]["importance"] == 0.5 and facts[2]["importance"] == 1.0
    assert parse_facts("no json here") == []
    assert parse_facts('{"facts": "nope"}') == []
