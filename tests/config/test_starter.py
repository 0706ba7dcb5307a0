"""The starter formation written by `muxi init`."""

from __future__ import annotations

import pytest
import yaml

from muxi_cli.config.loader import load_document
from muxi_cli.config.starter import full_example, starter_yaml, valid_model_ref


def test_starter_loads_with_one_assistant() -> None:
    loaded = load_document(yaml.safe_load(starter_yaml()))
    assert [a.name for a in loaded.formation.agents] == ["assistant"]
    assert loaded.formation.default_model is None
    assert not loaded.warnings


def test_starter_prefills_the_model() -> None:
    text = starter_yaml("ollama/llama3.2:3b")
    assert load_document(yaml.safe_load(text)).formation.default_model == "ollama/llama3.2:3b"


def test_every_commented_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_TOKEN", "t")
    formation = load_document(yaml.safe_load(full_example())).formation
    assert [a.name for a in formation.agents] == ["assistant", "researcher"]
    assert set(formation.mcp_servers) == {"time", "tracker"}
    assert formation.providers["ollama"].base_url == "http://localhost:11434/v1"
    assert formation.approval.tools["time/*"] == "allow"
    assert formation.router.model and formation.memory.uri and formation.pricing
    assert formation.agents[0].delegates == ["researcher"]
    assert {t.python for t in formation.agents[0].tools if t.python} == {
        "my_package.tools:lookup_order"
    }


def test_every_major_section_is_shown() -> None:
    text = starter_yaml()
    for section in (
        "providers:",
        "anthropic:",
        "openai:",
        "base_url: http://localhost:11434/v1",
        "muxi keys set",
        "default_model:",
        "agents:",
        "system_message:",
        "mcp_servers:",
        "tools:",
        "python:",
        "delegates:",
        "memory:",
        "knowledge:",
        "command:",
        "url:",
        "approval:",
        "router:",
        "pricing:",
    ):
        assert section in text, section


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("openai/gpt-4o", True),
        ("ollama/llama3.2:3b", True),
        ("gpt-4o", False),
        ("/x", False),
        ("a/", False),
    ],
)
def test_valid_model_ref(ref: str, ok: bool) -> None:
    assert valid_model_ref(ref) is ok
