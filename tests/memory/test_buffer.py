"""Buffer memory: the window, the running summary (fake LLM), and its persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import Message, ToolCall
from muxi_cli.memory.buffer import choose_cut, estimate_tokens, message_tokens
from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.memory.service import MemoryService
from tests.fakellm import Error, Text

from .conftest import fake_formation, registry_for


def _turns(n: int, size: int = 200) -> list[Message]:
    history = []
    for i in range(n):
        history.append(Message("user", f"question {i} " + "q" * size))
        history.append(Message("assistant", f"answer {i} " + "a" * size))
    return history


def _agent(budget: int) -> AgentConfig:
    return AgentConfig(name="assistant", memory={"buffer_tokens": budget})


def _service(fake_llm: Any, tmp_path: Path) -> MemoryService:
    form = fake_formation(fake_llm, extra="memory:\n  embedding: hash\n")
    return MemoryService(form, registry_for(form), base_dir=tmp_path, embedder=HashEmbedder())


def test_choose_cut_keeps_the_last_message_and_starts_at_a_user_turn() -> None:
    history = [
        Message("user", "u0" * 100),
        Message("assistant", "", tool_calls=(ToolCall("c1", "calc", {"x": 1}),)),
        Message("tool", "42", tool_call_id="c1"),
        Message("assistant", "a1" * 100),
        Message("user", "u2" * 100),
    ]
    assert choose_cut(history, 0, 1) == 4
    # Budget that would start the window at the tool result moves forward to a user turn.
    budget = sum(message_tokens(m) for m in history[2:])
    assert choose_cut(history, 0, budget) == 4
    assert choose_cut(history, 0, 10_000) == 0
    assert estimate_tokens("abcd" * 10) == 10


async def test_short_history_is_returned_whole(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    history = _turns(2)
    context = await svc.window("s1", _agent(8000), history)
    assert context.messages == history and context.summary is None
    assert fake_llm.requests == []
    await svc.aclose()


async def test_long_history_is_summarised_once_and_reused(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    agent = _agent(500)  # about five 100-token messages
    history = _turns(10)
    fake_llm.script(Text("SUMMARY-1: the user asked questions 0 to 7."))
    context = await svc.window("s1", agent, history)
    assert context.summary == "SUMMARY-1: the user asked questions 0 to 7."
    assert context.messages[0].role == "user"
    assert context.messages[-1] == history[-1]
    assert sum(message_tokens(m) for m in context.messages) <= 250
    assert len(fake_llm.requests) == 1
    body = fake_llm.requests[0]
    sent = " ".join(str(m.get("content")) for m in body["messages"])
    assert "question 0" in sent and "running summary" in sent
    assert "question 9" not in sent  # recent turns stay verbatim, not summarised

    # The next turn fits again: no model call, the stored summary is reused.
    history += [Message("user", "one more")]
    again = await svc.window("s1", agent, history)
    assert again.summary == context.summary
    assert again.messages[-1].content == "one more"
    assert len(fake_llm.requests) == 1

    # A new process (new service) reuses the persisted summary too.
    await svc.aclose()
    other = _service(fake_llm, tmp_path)
    third = await other.window("s1", agent, history)
    assert third.summary == context.summary and len(fake_llm.requests) == 1

    # Growing past the budget folds the new old turns into the summary.
    history += _turns(6)
    fake_llm.script(Text("SUMMARY-2"))
    fourth = await other.window("s1", agent, history)
    assert fourth.summary == "SUMMARY-2"
    assert "SUMMARY-1" in " ".join(str(m.get("content")) for m in fake_llm.requests[-1]["messages"])
    await other.aclose()


async def test_summary_model_setting_is_used(fake_llm: Any, tmp_path: Path) -> None:
    form = fake_formation(
        fake_llm, extra="memory:\n  embedding: hash\n  summary_model: openai/summariser\n"
    )
    svc = MemoryService(form, registry_for(form), base_dir=tmp_path)
    fake_llm.script(Text("S"))
    await svc.window("s1", _agent(300), _turns(8))
    assert fake_llm.requests[0]["model"] == "summariser"
    await svc.aclose()


async def test_changed_history_invalidates_the_summary(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    agent = _agent(500)
    fake_llm.script(Text("FIRST"), Text("SECOND"))
    await svc.window("s1", agent, _turns(10))
    edited = _turns(10, size=210)  # same length, other content
    context = await svc.window("s1", agent, edited)
    assert context.summary == "SECOND"
    await svc.aclose()


async def test_failed_summary_does_not_fail_the_turn(fake_llm: Any, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    fake_llm.set_default(Error(400, "bad request"))
    history = _turns(10)
    context = await svc.window("s1", _agent(500), history)
    assert context.messages[-1] == history[-1]
    assert len(context.messages) < len(history)
    await svc.aclose()


async def test_a_failed_summary_is_tried_again_next_turn(fake_llm: Any, tmp_path: Path) -> None:
    # The older messages a failed fold left out must reach the next summary,
    # not vanish from the model's view for the rest of the session.
    svc = _service(fake_llm, tmp_path)
    agent = _agent(500)
    history = _turns(10)
    fake_llm.script(Text("SUMMARY-1"))
    assert (await svc.window("s1", agent, history)).summary == "SUMMARY-1"
    history += [
        Message(role, f"later {role} {i} " + "x" * 200)
        for i in range(6)
        for role in ("user", "assistant")
    ]
    fake_llm.script(Error(400, "bad request"))
    failed = await svc.window("s1", agent, history)
    assert failed.summary == "SUMMARY-1" and failed.messages[-1] == history[-1]
    fake_llm.script(Text("SUMMARY-2"))
    history += [Message("user", "one more")]
    context = await svc.window("s1", agent, history)
    assert context.summary == "SUMMARY-2"
    sent = " ".join(str(m.get("content")) for m in fake_llm.requests[-1]["messages"])
    assert "SUMMARY-1" in sent and "later user 0" in sent
    await svc.aclose()
