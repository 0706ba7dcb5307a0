"""`muxi chat` says why the router's answer was not used, and with which model."""

from __future__ import annotations

from pathlib import Path

from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi as muxi

AGENTS = """
agents:
  - name: writer
    description: Writes prose.
  - name: coder
    description: Writes code.
default_agent: writer
"""


def test_router_answering_in_prose_is_reported_on_stderr(fake_llm: FakeLLM, tmp_path: Path):
    (tmp_path / "muxi.yaml").write_text(fake_llm.formation_yaml(extra=AGENTS))
    fake_llm.script(Text("Hmm, probably the coder."), Text("the answer"))
    result = muxi("chat", "fix my loop", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the answer\n"
    err = " ".join(result.stderr.split())
    assert "warning: the router (openai/fake-model) answered in prose" in err
    assert "using the default agent 'writer'" in err
    assert "(error)" not in err


def test_json_output_carries_the_routing_failure(fake_llm: FakeLLM, tmp_path: Path):
    import json

    (tmp_path / "muxi.yaml").write_text(fake_llm.formation_yaml(extra=AGENTS))
    fake_llm.script(Text("coder"), Text("the answer"))
    result = muxi("chat", "fix my loop", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    routing = json.loads(result.stdout)["routing"]
    assert routing["failure"] == "no_tool_call"
    assert routing["router_model"] == "openai/fake-model"
    assert routing["agent"] == "writer" and routing["method"] == "default"
