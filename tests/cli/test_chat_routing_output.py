"""`muxi chat`: cached routing decisions on stderr, the agent of each tool call in JSON,
help placeholders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.cli.support import invoke, plain_help
from tests.fakellm import FakeLLM, Text, ToolCalls

PY = sys.executable


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


TEAM = """
router:
  model: {provider}/router
agents:
  - name: writer
    description: Writes prose.
    tools: [calculator]
  - name: coder
    description: Writes code.
    delegates: [writer]
"""


def test_chat_says_when_a_routing_decision_came_from_the_cache(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.write_formation(tmp_path, extra=TEAM.format(provider="openai"))
    choose = ToolCalls([("choose_agent", {"agent": "coder", "reason": "it is about code"})])
    fake_llm.script(choose, Text("first"), Text("second"))
    code, out, err = invoke("chat", "fix my loop")
    assert code == 0, err
    assert out == "first\n"
    assert "→ coder (it is about code)" in err and "cached" not in err
    code, out, err = invoke("chat", "fix my loop")
    assert code == 0, err
    assert out == "second\n"
    assert "→ coder (it is about code, cached)" in err
    assert len(fake_llm.requests) == 3  # the second turn made no router call


def test_json_tool_calls_name_the_agent_that_made_them(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path, extra=TEAM.format(provider="openai"))
    fake_llm.script(
        ToolCalls([("ask_writer", {"question": "what is 6*7?"})]),
        ToolCalls([("calculator", {"expression": "6*7"})]),
        Text("42"),
        Text("The writer says 42."),
    )
    code, out, err = invoke("chat", "@coder ask the writer", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["reply"] == "The writer says 42."
    by_tool = {c["tool"]: c for c in data["tool_calls"]}
    assert by_tool["writer"]["agent"] == "coder"
    assert by_tool["calculator"]["agent"] == "writer"
    assert by_tool["calculator"]["content"] == "42"


def test_chat_help_uses_readable_placeholders() -> None:
    out = plain_help("chat")
    assert "Usage: muxi chat [OPTIONS] [MESSAGE]" in out
    for placeholder in ("--agent NAME", "--session ID", "--model PROVIDER/MODEL", "--user ID"):
        assert placeholder in out
