"""``muxi tools list``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app

SERVERS = Path(__file__).resolve().parent.parent / "mcp_servers"

FORMATION = f"""
approval:
  tools:
    "builtin/fetch_url": ask
mcp_servers:
  demo:
    command: {sys.executable}
    args: ["{SERVERS / "demo_server.py"}"]
    tools: {{echo: allow}}
agents:
  - name: helper
    mcp_servers: [demo]
    tools: [calculator, fetch_url, {{python: "mytools_cli:shout"}}]
  - name: plain
    tools: [calculator, {{builtin: datetime, approval: deny}}]
"""


@pytest.fixture(autouse=True)
def formation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "mytools_cli.py").write_text(
        'def shout(text: str) -> str:\n    """Upper-case the text."""\n    return text.upper()\n'
    )
    path = tmp_path / "muxi.yaml"
    path.write_text(FORMATION)
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_everything_with_agents_and_policies() -> None:
    result = run("tools", "list", "--json")
    assert result.exit_code == 0, result.output
    tools = {t["name"]: t for t in json.loads(result.stdout)}
    assert tools["calculator"]["agents"] == ["helper", "plain"]
    assert tools["calculator"]["policy"] == "allow"
    assert tools["fetch_url"]["policy"] == "ask"
    assert tools["shout"]["server"] == "python"
    assert tools["shout"]["description"] == "Upper-case the text."
    assert tools["demo__echo"]["policy"] == "allow"
    assert tools["demo__add"]["policy"] == "ask"
    assert tools["datetime"]["agents"] == ["plain"]
    kinds = {name: t["kind"] for name, t in tools.items()}
    assert (kinds["calculator"], kinds["shout"], kinds["demo__echo"]) == (
        "builtin",
        "python",
        "mcp",
    )


def test_one_agent_table() -> None:
    result = run("tools", "list", "--agent", "plain")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TOOL", "SOURCE", "POLICY", "DESCRIPTION"]
    # Wrapped descriptions continue on indented lines.
    rows = {line.split()[0]: line.split() for line in lines[1:] if not line.startswith(" ")}
    assert set(rows) == {"calculator", "datetime"}
    assert rows["datetime"][1:3] == ["builtin", "deny"]
    unknown = run("tools", "list", "--agent", "nobody")
    assert unknown.exit_code == 2
