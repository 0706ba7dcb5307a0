"""``muxi config path|show|validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from muxi_cli.cli.app import app


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def run(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(app, list(args), env=env)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD = """
name: team
default_model: openai/gpt-4o-mini
providers:
  openai: {api_key: sk-literal-1234567890}
agents:
  - name: writer
    mcp_servers: [gh, web]
  - name: coder
mcp_servers:
  gh:
    command: gh-mcp
    env: {GITHUB_TOKEN: "${MUXI_T_GH:-ghp_default_token_value}"}
  web:
    url: http://127.0.0.1:9/mcp
    headers: {Authorization: Bearer tok-abcdefghij}
"""


def test_path_reports_the_source(tmp_path: Path, muxi_home: Path) -> None:
    result = CliRunner().invoke(app, ["config", "path"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "(built-in)"
    assert "built-in" in result.stderr

    user = write(muxi_home / "config" / "muxi.yaml", "name: u\n")
    result = CliRunner().invoke(app, ["config", "path"])
    assert result.stdout.strip() == str(user)
    assert "user config directory" in result.stderr

    cwd = write(tmp_path / "muxi.yaml", "name: c\n")
    result = CliRunner().invoke(app, ["config", "path"])
    assert result.stdout.strip() == str(cwd)
    assert "current directory" in result.stderr

    other = write(tmp_path / "other.yaml", "name: o\n")
    result = CliRunner().invoke(app, ["config", "path"], env={"MUXI_CONFIG": str(other)})
    assert result.stdout.strip() == str(other)
    assert "MUXI_CONFIG" in result.stderr

    flag = write(tmp_path / "flag.yaml", "name: f\n")
    result = CliRunner().invoke(
        app, ["--config", str(flag), "config", "path", "--json"], env={"MUXI_CONFIG": str(other)}
    )
    data = json.loads(result.stdout)
    assert data == {
        "path": str(flag),
        "reason": "flag",
        "explanation": "given with --config",
        "exists": True,
    }


def test_path_of_a_missing_explicit_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "nope.yaml"), "config", "path"])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(tmp_path / "nope.yaml")
    assert "muxi init" in result.stderr


def test_show_fills_defaults_and_masks_secrets(tmp_path: Path) -> None:
    write(tmp_path / "muxi.yaml", GOOD)
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["name"] == "team"
    assert [a["name"] for a in data["agents"]] == ["writer", "coder"]
    assert data["agents"][1]["memory"]["buffer_tokens"] == 8000  # a default, filled in
    assert data["default_agent"] == "writer"
    assert data["router"]["cache_ttl"] == 3600.0
    for secret in ("sk-literal-1234567890", "ghp_default_token_value", "tok-abcdefghij"):
        assert secret not in result.stdout
    assert data["providers"]["openai"]["api_key"] == "sk-l…7890"
    assert data["mcp_servers"]["gh"]["env"]["GITHUB_TOKEN"].startswith("ghp_")

    as_json = CliRunner().invoke(app, ["config", "show", "--json"])
    assert as_json.exit_code == 0
    parsed = json.loads(as_json.stdout)
    assert parsed["mcp_servers"]["web"]["headers"]["Authorization"] == "Bearer ********"
    assert "tok-abcdefghij" not in as_json.stdout


def test_show_builtin_default() -> None:
    result = CliRunner().invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert [a["name"] for a in json.loads(result.stdout)["agents"]] == ["assistant"]


def test_show_invalid_exits_2() -> None:
    write(Path("muxi.yaml"), "agents:\n  - name: a\n    modle: x\n")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "did you mean 'model'" in result.stderr


def test_validate_ok_and_invalid(tmp_path: Path) -> None:
    write(tmp_path / "muxi.yaml", GOOD)
    result = CliRunner().invoke(app, ["config", "validate"])
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stdout
    assert "writer, coder" in result.stdout
    assert "gh (stdio)" in result.stdout and "web (http)" in result.stdout

    bad = write(tmp_path / "bad.yaml", "agents:\n  - name: a\n  - name: b\n    modle: x\n")
    result = CliRunner().invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "agents[1].modle" in result.stderr
    assert "did you mean 'model'" in result.stderr
    assert "bad.yaml" in result.stderr

    as_json = CliRunner().invoke(app, ["config", "validate", str(bad), "--json"])
    assert as_json.exit_code == 2
    data = json.loads(as_json.stdout)
    assert data["valid"] is False and data["error"]["code"] == "config_error"


def test_validate_json_summary(tmp_path: Path) -> None:
    write(tmp_path / "muxi.yaml", GOOD)
    result = CliRunner().invoke(app, ["config", "validate", "--json"])
    data = json.loads(result.stdout)
    assert data["agents"] == ["writer", "coder"]
    assert data["mcp_servers"] == {"gh": "stdio", "web": "http"}


def test_validate_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "not found" in result.stderr and "muxi init" in result.stderr


def test_validate_shows_original_format_warnings(tmp_path: Path) -> None:
    write(tmp_path / "agents" / "w.yaml", "name: w\nmemory: {buffer: 10}\n")
    write(tmp_path / "muxi.yaml", "name: t\n")
    result = CliRunner().invoke(app, ["config", "validate"])
    assert result.exit_code == 0, result.stderr
    assert "memory.buffer" in result.stderr
    assert "w" in result.stdout


def test_yaml_error_reports_line(tmp_path: Path) -> None:
    write(tmp_path / "muxi.yaml", "agents:\n  - name: a\n   bad: [\n")
    result = CliRunner().invoke(app, ["config", "validate"])
    assert result.exit_code == 2
    assert "muxi.yaml:3:" in result.stderr.replace("\n", "")
