"""Long-term extraction after turns, driven by the fake LLM server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import Message
from muxi_cli.memory.embeddings import HashEmbedder, LocalEmbedder
from muxi_cli.memory.extract import parse_facts, questions_enabled
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


def test_new_fields_are_optional_and_garbage_loses_nothing() -> None:
    answer = json.dumps(
        {"facts": [
            {"text": "User's wife Maya is vegan", "subject": "Spouse", "since": "2024-05",
             "questions": ["What does Maya eat?", "Is the user's wife vegan?", "x" * 400]},
            {"text": "User moved to Lisbon", "subject": "alien", "since": "last spring",
             "questions": "Where does the user live?\nWhich city?"},
            {"text": "User has a dog", "subject": 3, "since": 2024, "questions": {"a": 1},
             "replaces": 7, "importance": "NaN"},
        ]}
    )  # fmt: skip
    first, second, third = parse_facts(answer)
    assert first["subject"] == "spouse" and first["questions"] == [
        "What does Maya eat?",
        "Is the user's wife vegan?",
    ]
    assert first["since"] == datetime(2024, 5, 1, tzinfo=UTC).timestamp()
    assert second["subject"] is None and second["since"] is None
    assert second["questions"] == ["Where does the user live?", "Which city?"]
    assert third["text"] == "User has a dog" and third["subject"] is None
    assert third["since"] is None and third["questions"] == [] and third["replaces"] == ["7"]
    assert third["importance"] == 0.5


def test_questions_auto_is_off_for_local_models() -> None:
    class Registry:
        def is_local(self, provider: str) -> bool:
            return provider == "ollama"

    assert questions_enabled("auto", Registry(), "anthropic/claude-haiku")
    assert not questions_enabled("auto", Registry(), "ollama/llama3.2")
    assert questions_enabled("on", Registry(), "ollama/llama3.2")
    assert not questions_enabled("off", Registry(), "anthropic/claude-haiku")
    # Without a registry the provider table says which providers are local servers.
    assert not questions_enabled("auto", object(), "llama-cpp/model")
    assert questions_enabled("auto", object(), "openai/gpt-4o-mini")


async def test_extraction_writes_subject_time_and_questions(
    fake_llm: Any, tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    form = fake_formation(fake_llm, extra="memory:\n  questions: 'on'\n")
    svc = MemoryService(form, registry_for(form), base_dir=tmp_path, embedder=local_embedder)
    berlin = await svc.add("User lives in Berlin.", "alice")
    sushi = await svc.add("User likes sushi.", "alice")
    fake_llm.script(
        JSONReply(
            {"facts": [
                {"text": "User moved to Lisbon in March 2026.", "subject": "user",
                 "since": "2026-03", "questions": ["Where does the user live now?"]},
                {"text": "User's sister Ana is a nurse.", "subject": "sibling"},
                {"text": "User likes ramen.", "replaces": [sushi.id]},
            ]}
        ),
        JSONReply({"replaces": [1]}),  # the judge, about Berlin
    )  # fmt: skip
    stored = await svc.extract("alice", AGENT, _chat(("I moved to Lisbon in March", "Nice")))
    extraction, judging = fake_llm.requests
    system = " ".join(
        str(m.get("content")) for m in extraction["messages"] if m.get("role") == "system"
    )
    assert '"questions"' in system and '"subject"' in system and '"since"' in system
    prompt = " ".join(str(m.get("content")) for m in extraction["messages"])
    assert "Today is 20" in prompt
    assert judging["max_tokens"] == 24 and "User lives in Berlin." in str(judging["messages"])
    lisbon, ana, ramen = (s.row for s in stored)
    assert stored[0].judged == [berlin.id] and stored[2].judged == []  # linked: no judge
    assert lisbon["valid_from"] == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert lisbon["questions"] == "Where does the user live now?" and ana["subject"] == "sibling"
    old = await svc.get(berlin.id, "alice")
    assert old.superseded_by == lisbon["id"] and old.valid_until.startswith("2026-03-01")
    shown = await svc.get(lisbon["id"], "alice")
    assert [link["id"] for link in shown.replaced] == [berlin.id]
    assert shown.questions == ["Where does the user live now?"] and shown.subject == "user"
    assert (await svc.get(sushi.id, "alice")).superseded_by == ramen["id"]
    await svc.aclose()


async def test_no_judge_without_the_switch_or_a_candidate(
    fake_llm: Any, tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    form = fake_formation(fake_llm, extra="memory:\n  supersede_check: false\n")
    svc = MemoryService(form, registry_for(form), base_dir=tmp_path, embedder=local_embedder)
    await svc.add("User lives in Berlin.", "alice")
    fake_llm.script(JSONReply({"facts": [{"text": "User moved to Lisbon in March 2026."}]}))
    await svc.extract("alice", AGENT, _chat(("I moved", "ok")))
    assert len(fake_llm.requests) == 1  # switched off: no judge call
    system = " ".join(str(m.get("content")) for m in fake_llm.requests[0]["messages"])
    assert '"questions"' not in system  # auto, and the fake server is on this machine
    await svc.aclose()

    svc = MemoryService(
        fake_formation(fake_llm),
        registry_for(form),
        base_dir=tmp_path / "b",
        embedder=local_embedder,
    )
    fake_llm.script(JSONReply({"facts": [{"text": "User plays the cello."}]}))
    await svc.extract("bob", AGENT, _chat(("I play the cello", "ok")))
    assert len(fake_llm.requests) == 2  # an empty store: no candidate, no judge call
    await svc.aclose()
