"""``muxi init``: the starter muxi.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.config.loader import load_formation

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")


def test_init_writes_a_file_that_validates(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.stderr
    target = tmp_path / "muxi.yaml"
    assert result.stdout.strip() == str(target)  # stdout: only the path
    assert "next steps" in result.stderr and "muxi doctor" in result.stderr
    loaded = load_formation(target)
    assert [a.name for a in loaded.formation.agents] == ["assistant"]
    text = target.read_text()
    for section in ("# providers:", "# mcp_servers:", "# approval:", "# router:", "# pricing:"):
        assert section in text
    validate = CliRunner().invoke(app, ["config", "validate"])
    assert validate.exit_code == 0, validate.stderr


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "muxi.yaml"
    target.write_text("name: mine\n")
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert result.stdout == ""
    assert target.read_text() == "name: mine\n"

    forced = CliRunner().invoke(app, ["init", "--force", "--model", "openai/gpt-4o-mini"])
    assert forced.exit_code == 0, forced.stderr
    assert load_formation(target).formation.default_model == "openai/gpt-4o-mini"


def test_init_model_and_path_options(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["init", "--path", str(tmp_path / "proj"), "--model", "anthropic/claude-sonnet-4-5"]
    )
    assert result.exit_code == 0, result.stderr
    target = tmp_path / "proj" / "muxi.yaml"
    formation = load_formation(target).formation
    assert formation.default_model == "anthropic/claude-sonnet-4-5"
    assert formation.name == "proj"
    assert "--config" in result.stderr  # says how to use a file outside the cwd

    named = CliRunner().invoke(app, ["init", "--path", str(tmp_path / "team.yaml")])
    assert named.exit_code == 0, named.stderr
    assert (tmp_path / "team.yaml").is_file()


def test_init_rejects_a_bad_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init", "--model", "gpt-4o"])
    assert result.exit_code == 2
    assert "provider/model" in result.stderr
    assert not (tmp_path / "muxi.yaml").exists()


def test_python_m_muxi_init(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    proc = subprocess.run(
        [sys.executable, "-m", "muxi_cli", "init", "--model", "ollama/llama3.2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "muxi.yaml")
    assert "next steps" in proc.stderr
    assert load_formation(tmp_path / "muxi.yaml").formation.default_model == "ollama/llama3.2"
    again = subprocess.run(
        [sys.executable, "-m", "muxi_cli", "init"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr
