"""Registering a generated server in muxi.yaml: text edits that keep comments,
a formation that still loads, and a server muxi's own tool layer can start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from muxi_cli.config.loader import load_formation
from muxi_cli.errors import ConfigError, UsageError
from muxi_cli.scaffold.register import add_server_text, register_server, server_entry
from tests.scaffold.helpers import generate, make_options

LIST_AGENTS = """\
# my formation (top comment)
version: 1
name: demo

agents:
  - name: helper   # the default agent
    description: Helps.
    tools: [calculator]
  - name: other
    mcp_servers: [existing]

# servers below
mcp_servers:
  existing:   # keep me
    command: echo
    args: [hi]
    # a trailing comment inside the block

# --- after the servers
approval:
  default: ask
"""

MAPPING_AGENTS = """\
default_agent: b
agents:
  a:
    description: first
  b:
    description: second   # b is the default
    mcp_servers:
      - existing
mcp_servers: {existing: {command: echo}}
"""


def _comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def _register(tmp_path: Path, formation_text: str, **overrides: object) -> tuple[Path, object]:
    formation = tmp_path / "muxi.yaml"
    formation.write_text(formation_text)
    plan = generate(tmp_path, **overrides)
    return formation, register_server(formation, plan.options)


def test_adds_to_existing_block_and_default_agent_keeping_comments(tmp_path: Path) -> None:
    formation, reg = _register(tmp_path, LIST_AGENTS)
    text = formation.read_text()
    assert _comments(text) == _comments(LIST_AGENTS)
    loaded = load_formation(formation).formation
    assert list(loaded.mcp_servers) == ["existing", "demo-server"]
    server = loaded.mcp_servers["demo-server"]
    project = tmp_path / "demo-server"
    assert server.command == str(Path(sys.executable).absolute())
    assert server.args == ["-m", "demo_server"]
    assert server.cwd == str(project)
    assert server.env == {"PYTHONPATH": str(project / "src")}
    assert loaded.agent("helper").mcp_servers == ["demo-server"]  # type: ignore[union-attr]
    assert loaded.agent("other").mcp_servers == ["existing"]  # type: ignore[union-attr]
    assert reg.agent == "helper"  # type: ignore[attr-defined]
    # The new entry sits inside the servers block, before the next section.
    assert text.index("demo-server:") < text.index("# --- after the servers")
    assert (
        text.index("  - name: helper   # the default agent\n    mcp_servers: [demo-server]\n") > 0
    )


def test_mapping_agents_and_flow_style_servers_are_refused_with_a_snippet(tmp_path: Path) -> None:
    formation = tmp_path / "muxi.yaml"
    formation.write_text(MAPPING_AGENTS)
    plan = generate(tmp_path)
    with pytest.raises(UsageError) as info:
        register_server(formation, plan.options)
    assert "flow style" in info.value.message
    assert "demo-server:" in (info.value.hint or "")
    assert formation.read_text() == MAPPING_AGENTS  # untouched


def test_block_list_of_a_mapping_agent(tmp_path: Path) -> None:
    text = MAPPING_AGENTS.replace(
        "mcp_servers: {existing: {command: echo}}", "mcp_servers:\n  existing: {command: echo}"
    )
    formation, _ = _register(tmp_path, text)
    loaded = load_formation(formation).formation
    assert loaded.agent("b").mcp_servers == ["existing", "demo-server"]  # type: ignore[union-attr]
    assert loaded.agent("a").mcp_servers == []  # type: ignore[union-attr]
    assert "      - existing\n      - demo-server\n" in formation.read_text()


@pytest.mark.parametrize(
    ("before", "servers_line"),
    [
        ("agents:\n  - name: solo\n", None),
        ("agents:\n  - name: solo\nmcp_servers: {}  # none yet\n", "mcp_servers:  # none yet"),
        ("agents:\n  - name: solo\n\nmcp_servers: {}\n# end\n", "mcp_servers:"),
        ("agents:\n  - name: solo\n    mcp_servers: []\n", None),
        ("agents:\n  - {name: solo}\n", None),
    ],
)
def test_small_layouts(tmp_path: Path, before: str, servers_line: str | None) -> None:
    formation, reg = _register(tmp_path, before)
    text = formation.read_text()
    loaded = load_formation(formation).formation
    assert "demo-server" in loaded.mcp_servers
    if servers_line:
        assert servers_line + "\n  demo-server:\n" in text
    if "{name: solo}" in before:
        assert reg.agent is None  # type: ignore[attr-defined]
        assert reg.notes and "by hand" in reg.notes[0]  # type: ignore[attr-defined]
    else:
        assert loaded.agent("solo").mcp_servers == ["demo-server"]  # type: ignore[union-attr]


def test_file_without_agents_gets_the_default_agent(tmp_path: Path) -> None:
    formation, _ = _register(tmp_path, "# just a comment\nversion: 1")
    loaded = load_formation(formation).formation
    assert loaded.default.name == "assistant"
    assert loaded.default.mcp_servers == ["demo-server"]
    assert formation.read_text().startswith("# just a comment\nversion: 1\n")


def test_starter_formation_from_muxi_init(tmp_path: Path) -> None:
    from muxi_cli.config.starter import starter_yaml

    starter = starter_yaml(None, name="demo")
    formation, _ = _register(tmp_path, starter)
    text = formation.read_text()
    assert _comments(text) == _comments(starter)
    loaded = load_formation(formation).formation
    assert loaded.default.mcp_servers == ["demo-server"]
    assert [t.builtin for t in loaded.default.tools] == ["calculator", "datetime"]


def test_http_only_registers_the_url(tmp_path: Path) -> None:
    formation, reg = _register(tmp_path, "agents:\n  - name: a\n", transport="http")
    server = load_formation(formation).formation.mcp_servers["demo-server"]
    assert server.url == "http://127.0.0.1:8000/mcp"
    assert any("start the server" in note for note in reg.notes)  # type: ignore[attr-defined]


def test_project_venv_python_is_preferred(tmp_path: Path) -> None:
    options = make_options(tmp_path)
    python = options.output_dir / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert server_entry(options) == {
        "command": str(python),
        "args": ["-m", "demo_server"],
        "cwd": str(options.output_dir),
    }


def test_dollar_in_paths_survives_variable_expansion(tmp_path: Path) -> None:
    odd = tmp_path / "cost$HOME"
    odd.mkdir()
    formation, _ = _register(odd, "agents:\n  - name: a\n")
    server = load_formation(formation).formation.mcp_servers["demo-server"]
    assert server.cwd == str(odd / "demo-server")


def test_existing_name_is_refused(tmp_path: Path) -> None:
    formation = tmp_path / "muxi.yaml"
    original = "mcp_servers:\n  demo-server:\n    command: echo\n"
    formation.write_text(original)
    plan = generate(tmp_path)
    with pytest.raises(UsageError, match="already has an MCP server"):
        register_server(formation, plan.options)
    assert formation.read_text() == original


def test_broken_formation_is_refused(tmp_path: Path) -> None:
    formation = tmp_path / "muxi.yaml"
    formation.write_text("agents: [\n")
    plan = generate(tmp_path)
    with pytest.raises(ConfigError):
        register_server(formation, plan.options)


def test_text_edit_is_pure() -> None:
    options_entry = {"command": "/x/python", "args": ["-m", "pkg"]}
    new, note = add_server_text(
        "a: 1\n", "srv", options_entry, agent="assistant", source=Path("m.yaml")
    )
    assert note == ""
    assert new == (
        'a: 1\n\nmcp_servers:\n  srv:\n    command: "/x/python"\n    args: ["-m", pkg]\n'
        "\nagents:\n  - name: assistant\n    mcp_servers: [srv]\n"
    )


async def test_muxi_tool_layer_starts_the_registered_server(tmp_path: Path) -> None:
    """What `muxi mcp tools NAME` does: start the registered server and list its tools."""
    from muxi_cli.tools.mcp_client import MCPConnection

    formation, _ = _register(tmp_path, "agents:\n  - name: a\n", tools=["forecast"])
    loaded = load_formation(formation)
    config = loaded.formation.mcp_servers["demo-server"]
    connection = MCPConnection("demo-server", config, formation.parent)
    connection.start()
    try:
        await connection.wait_settled(timeout=60)
        assert connection.ready, connection.error
        names = [tool.name for tool in connection.tools]
        assert names == ["forecast", "slow_count", "color_swatch"]
        outcome = await connection.call_tool("forecast", {"text": "sunny and warm"})
        assert "sunny and warm" in str(outcome)
    finally:
        await connection.stop()


def test_agents_from_agent_files_are_left_alone(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "weather.yaml").write_text("name: weather\ndescription: Weather.\n")
    formation, reg = _register(tmp_path, "version: 1\n")
    loaded = load_formation(formation).formation
    assert [a.name for a in loaded.agents] == ["weather"]  # still loaded from agents/
    assert "demo-server" in loaded.mcp_servers
    assert reg.agent is None  # type: ignore[attr-defined]
    assert "agent files" in reg.notes[0]  # type: ignore[attr-defined]
