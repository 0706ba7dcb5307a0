"""A turn pays only for what it uses: no LanceDB, no embedding model, no other
provider's SDK when the user has nothing stored (checked with ``-X importtime`` of a
real ``muxi chat`` process), and extraction opens the store only for facts to store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import Message
from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.memory.service import MemoryService
from tests.fakellm import FakeLLM, JSONReply

from .conftest import fake_formation, registry_for

HEAVY = {"lancedb", "onnxruntime", "tokenizers", "pyarrow"}


def chat_imports(cwd: Path, *args: str) -> tuple[str, set[str]]:
    """Run ``muxi chat ARGS`` in a new process; its reply and every module it imported."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["MUXI_HOST"] = "off"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "muxi_cli", "chat", *args, "-o", "text"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return done.stdout, modules


def top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_a_turn_with_nothing_stored_imports_no_lancedb_nor_the_embedder(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    # The default memory settings (on, long-term, the local ONNX embedder).
    extra = "agents:\n  - name: assistant\n    memory:\n      extract_every: 1\n"
    fake_llm.write_formation(tmp_path, extra=extra)
    reply, modules = chat_imports(tmp_path, "hello there")
    assert reply.strip() == "ok"
    assert len(fake_llm.requests) == 2  # the turn, then extraction (which found no facts)
    assert not HEAVY & top(modules), sorted(HEAVY & top(modules))
    assert "openai" in top(modules) and "anthropic" not in top(modules)
    # A second turn of the same session kind: still nothing opened.
    _reply, modules = chat_imports(tmp_path, "and again")
    assert not HEAVY & top(modules)


def test_memories_of_another_user_do_not_open_the_store(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path, extra="memory:\n  embedding: hash\n")
    # Someone else's memory, stored by another process.
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    add = [sys.executable, "-m", "muxi_cli", "memory", "add", "User likes jazz", "--user", "bob"]
    subprocess.run(add, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    _reply, modules = chat_imports(tmp_path, "hello", "--user", "alice")
    assert "lancedb" not in top(modules)
    # Bob's turn recalls his memory (the store opens: there is something to find).
    _reply, modules = chat_imports(tmp_path, "what music do I like?", "--user", "bob")
    assert "lancedb" in top(modules)
    system = str(fake_llm.requests[-1]["messages"][0]["content"])
    assert "User likes jazz" in system


def test_an_anthropic_turn_imports_no_openai(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path, provider="anthropic")
    reply, modules = chat_imports(tmp_path, "hello")
    assert reply.strip() == "ok"
    assert "anthropic" in top(modules) and "openai" not in top(modules)
    assert not HEAVY & top(modules)


def _service(fake_llm: Any, tmp_path: Path) -> MemoryService:
    form = fake_formation(fake_llm, extra="memory:\n  embedding: hash\n")
    return MemoryService(form, registry_for(form), base_dir=tmp_path, embedder=HashEmbedder())


AGENT = AgentConfig(name="assistant", memory={"extract_every": 2})
CHAT = [Message("user", "I live in Lisbon"), Message("assistant", "Nice city!")]


async def test_extraction_opens_the_store_only_for_facts_to_store(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    svc = _service(fake_llm, tmp_path)
    try:
        fake_llm.script(JSONReply({"facts": []}))
        await svc.after_turn("alice", AGENT, "s1", CHAT)
        assert len(fake_llm.requests) == 1  # the model was asked, as before
        assert svc._store is None  # nothing to search, nothing to store
        state = await (await svc.states()).get("s1")
        assert state is not None and state["extracted_upto"] == 2

        fake_llm.script(JSONReply({"facts": [{"text": "User lives in Lisbon"}]}))
        stored = await svc.extract("alice", AGENT, CHAT)
        assert [s.row["text"] for s in stored] == ["User lives in Lisbon"]
        first_prompt = str(fake_llm.requests[-1]["messages"][-1]["content"])
        assert "Known memories" not in first_prompt  # alice had no facts to search

        fake_llm.script(JSONReply({"facts": []}))
        await svc.extract("alice", AGENT, CHAT)
        prompt = str(fake_llm.requests[-1]["messages"][-1]["content"])
        assert "User lives in Lisbon" in prompt  # now her known facts are searched
    finally:
        await svc.aclose()


async def test_recall_skips_when_the_user_has_nothing(fake_llm: FakeLLM, tmp_path: Path) -> None:
    svc = _service(fake_llm, tmp_path)
    try:
        agent = AgentConfig(name="assistant")
        assert await svc.recall("alice", agent, "what do I like?") == []
        assert svc._store is None
        await svc.add("User likes jazz", "alice")
        assert [r.text for r in await svc.recall("alice", agent, "jazz")] == ["User likes jazz"]
        assert await svc.recall("carol", agent, "jazz") == []
        # Shared knowledge is recalled for every user.
        await svc.add("The office opens at nine", "alice", kind="knowledge", shared=True)
        texts = [r.text for r in await svc.recall("carol", agent, "when does the office open?")]
        assert texts == ["The office opens at nine"]
    finally:
        await svc.aclose()
