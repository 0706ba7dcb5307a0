"""`muxi agents list|show` through the CLI app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from muxi_cli.cli.app import app

FORMATION = """
default_model: openai/gpt-test
providers:
  openai: {api_key: sk-test}
default_agent: coder
agents:
  - name: writer
    description: Writes prose.
    system_message: You write well.
    memory: {enabled: false}
  - name: coder
    description: Writes code.
    model: anthropic/claude-test
    tools: [calculator]
    delegates: [writer]
    knowledge: [{path: docs}]
"""


def write(tmp_path: Path) -> None:
    (tmp_path / "muxi.yaml").write_text(FORMATION)


def test_list_json_and_table(tmp_path: Path):
    write(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["agents", "list", "--json"])
    assert result.exit_code == 0, result.output
    agents = {a["name"]: a for a in json.loads(result.stdout)}
    assert agents["writer"]["model"] == "openai/gpt-test" and agents["writer"]["memory"] is False
    assert agents["coder"]["model"] == "anthropic/claude-test" and agents["coder"]["default"]
    assert agents["coder"]["tools"] == ["calculator"] and agents["coder"]["delegates"] == ["writer"]
    table = runner.invoke(app, ["agents", "list"])
    assert table.exit_code == 0
    assert (
        "writer" in table.stdout and "Writes code." in table.stdout and "(default)" in table.stdout
    )


def test_show_and_unknown(tmp_path: Path):
    write(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["agents", "show", "writer"])
    assert result.exit_code == 0
    assert "You write well." in result.stdout and "off" in result.stdout
    missing = runner.invoke(app, ["agents", "show", "writr"])
    assert missing.exit_code == 2
    assert "did you mean 'writer'" in missing.stderr
