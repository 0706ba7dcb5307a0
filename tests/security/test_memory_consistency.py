"""Hole 2 of issue 13: a running server sees memory changes made by another process.

A real ``muxi serve`` holds the memory store open; the ``muxi memory`` CLI runs
in another process on the same store. An erased user must be gone from the
server's list, search and recall at once, and a memory another process adds
must be there at once, without the server writing anything itself first.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.server.serveproc import MUXI, ServeProcess, server_env

FORMATION = """\
memory:
  embedding: hash
  uri: {uri}
agents:
  - name: assistant
    memory:
      extract_every: 1000
"""


class Setup:
    def __init__(self, proc: ServeProcess, key: str, config: Path, home: Path) -> None:
        self.proc = proc
        self.config = config
        self.home = home
        self.http = httpx.Client(
            base_url=proc.url, headers={"authorization": f"Bearer {key}"}, timeout=60
        )

    def cli(self, *args: str) -> str:
        """``muxi --config C ARGS`` in another process on the same home and store."""
        done = subprocess.run(
            [MUXI, "--config", str(self.config), *args],
            env=server_env(self.home),
            cwd=str(self.config.parent),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def listed(self) -> list[str]:
        resp = self.http.get("/v1/memory")
        assert resp.status_code == 200, resp.text
        return [item["text"] for item in resp.json()]

    def found(self, query: str) -> list[str]:
        resp = self.http.get("/v1/memory/search", params={"q": query})
        assert resp.status_code == 200, resp.text
        return [item["text"] for item in resp.json()]

    def prompt_of_turn(self, fake: FakeLLM, message: str) -> str:
        """The system prompt the model got for one turn (where recalled memories go)."""
        resp = self.http.post("/v1/chat", json={"message": message})
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "completed", resp.text
        messages: list[dict[str, Any]] = fake.last_request["messages"]
        return "\n".join(str(m.get("content")) for m in messages if m.get("role") == "system")


@pytest.fixture
def served(fake_llm: FakeLLM, tmp_path: Path) -> Iterator[Setup]:
    home = tmp_path / "home"
    config = fake_llm.write_formation(tmp_path, extra=FORMATION.format(uri=tmp_path / "memory"))
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    proc = ServeProcess(home, config).start()
    setup = Setup(proc, key, config, home)
    try:
        yield setup
    finally:
        setup.http.close()
        proc.stop()


def test_forget_in_another_process_is_invisible_to_the_server_at_once(
    served: Setup, fake_llm: FakeLLM
) -> None:
    for text in ("User's favourite colour is teal", "User keeps bees in the garden"):
        assert served.http.post("/v1/memory", json={"text": text}).status_code == 201
    # The server has read the store (its table handles are open and warm).
    assert len(served.listed()) == 2
    assert "User's favourite colour is teal" in served.found("favourite colour teal")
    assert "teal" in served.prompt_of_turn(fake_llm, "what is my favourite colour, teal?")

    served.cli("memory", "forget", "--user", "alice", "--all", "--yes")
    assert served.cli("memory", "list", "--user", "alice", "--json").strip() == "[]"

    # No server write in between: the very next reads see the erasure.
    assert served.listed() == []
    assert served.found("favourite colour teal") == []
    prompt = served.prompt_of_turn(fake_llm, "what is my favourite colour, teal?")
    assert "teal" not in prompt and "bees" not in prompt


def test_a_memory_added_by_another_process_is_visible_to_the_server_at_once(
    served: Setup, fake_llm: FakeLLM
) -> None:
    assert served.http.post("/v1/memory", json={"text": "User likes tea"}).status_code == 201
    assert served.listed() == ["User likes tea"]

    served.cli("memory", "add", "User paddles a red kayak on weekends", "--user", "alice")

    assert "User paddles a red kayak on weekends" in served.listed()
    assert "User paddles a red kayak on weekends" in served.found("red kayak weekends")
    assert "kayak" in served.prompt_of_turn(fake_llm, "shall I take the kayak out?")
