"""``muxi create mcp-server``: flags, --no-input, --dry-run, --force, --json, --register."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.cli.create import run_create
from muxi_cli.config.loader import load_formation
from muxi_cli.scaffold.interactive import PromptToolkitPrompter
from muxi_cli.scaffold.render import leftover_placeholders

REPO = Path(__file__).resolve().parents[2]
AUTHOR = ["--author", "Ada <ada@example.org>"]


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, ["create", "mcp-server", *args])


def test_no_input_json_summary(tmp_path: Path) -> None:
    result = invoke(
        "--name", "weather", "--tool", "forecast", "--tool", "alerts", "--json", *AUTHOR
    )
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    project = tmp_path / "weather"
    assert summary["path"] == str(project)
    assert summary["name"] == "weather" and summary["package"] == "weather"
    assert summary["tools"] == ["forecast", "alerts"]
    assert summary["transport"] == "both" and summary["dry_run"] is False
    assert summary["author"] == {"name": "Ada", "email": "ada@example.org"}
    assert summary["registered"] is None
    for file in summary["files"]:
        text = (project / file).read_text()
        assert leftover_placeholders(text) == [], file
    assert ".gitignore" in summary["files"]
    assert "forecast" in (project / "src/weather/server.py").read_text()


def test_defaults_and_positional_name(tmp_path: Path) -> None:
    result = invoke("--json")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert json.loads(result.stdout)["name"] == "my-mcp-server"  # type: ignore[attr-defined]
    result = invoke("named", "--json", "--transport", "STDIO", "--no-prompts", "--no-resources")
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert (summary["name"], summary["transport"]) == ("named", "stdio")
    assert "tests/test_http.py" not in summary["files"]


def test_human_output(tmp_path: Path) -> None:
    result = invoke("--name", "human")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert result.stdout.startswith(f"Created {tmp_path / 'human'} (")  # type: ignore[attr-defined]
    assert "  src/human/server.py" in result.stdout  # type: ignore[attr-defined]
    assert "Next steps" in result.stderr and "pytest" in result.stderr  # type: ignore[attr-defined]


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = invoke("--name", "dry", "--dry-run", "--dockerfile", "--json")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert summary["dry_run"] is True
    assert "Dockerfile" in summary["files"] and "src/dry/server.py" in summary["files"]
    assert not (tmp_path / "dry").exists()
    human = invoke("--name", "dry", "--dry-run")
    assert human.stdout.startswith("Would create")  # type: ignore[attr-defined]
    assert not (tmp_path / "dry").exists()


def test_non_empty_folder_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    refused = invoke("--name", "busy")
    assert refused.exit_code == 2  # type: ignore[attr-defined]
    assert "not empty" in refused.stderr and "--force" in refused.stderr  # type: ignore[attr-defined]
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    dry = invoke("--name", "busy", "--dry-run")
    assert dry.exit_code == 2  # type: ignore[attr-defined]
    forced = invoke("--name", "busy", "--force")
    assert forced.exit_code == 0, forced.stderr  # type: ignore[attr-defined]
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "src/busy/server.py").is_file()


def test_output_dir(tmp_path: Path) -> None:
    result = invoke("--name", "odd", "--output-dir", str(tmp_path / "elsewhere" / "x"), "--json")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert (tmp_path / "elsewhere/x/src/odd/server.py").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert invoke("--name", "odd", "-o", str(empty)).exit_code == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "class"], "Try --name class-server"),
        (["--name", "json"], "Try --name json-server"),
        (["--name", "../evil"], "Try --name evil"),
        (["--tool", "Get Weather"], "Try --tool get_weather"),
        (["--tool", "a", "--tool", "a"], "given twice"),
        (["--transport", "carrier"], "stdio, http or both"),
        (["--transport", "stdio", "--dockerfile"], "--transport http"),
        (["--no-tools", "--no-resources", "--no-prompts"], "offer nothing"),
        (["--tool", "a", "--no-tools"], "contradict"),
        (["one", "--name", "two"], "two names"),
        (["--description", "{{ x }}"], "cannot contain"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.stdout  # type: ignore[attr-defined]
    assert message in " ".join(result.stderr.split())  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == [tmp_path / "muxi-home"]  # nothing written


def test_register_in_the_current_formation(tmp_path: Path) -> None:
    formation = tmp_path / "muxi.yaml"
    formation.write_text("# mine\nagents:\n  - name: helper  # keep\n")
    result = invoke("--name", "reg", "--register", "--json", "--tool", "ping")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert summary["registered"]["formation"] == str(formation.resolve())
    assert summary["registered"]["agent"] == "helper"
    text = formation.read_text()
    assert "# mine" in text and "# keep" in text
    loaded = load_formation(formation).formation
    assert loaded.mcp_servers["reg"].args == ["-m", "reg"]
    assert loaded.default.mcp_servers == ["reg"]

    # Registering the same name again fails before anything is written.
    again = invoke("--name", "reg", "--register", "-o", str(tmp_path / "second"))
    assert again.exit_code == 2  # type: ignore[attr-defined]
    assert "already has an MCP server" in again.stderr  # type: ignore[attr-defined]
    assert not (tmp_path / "second").exists()


def test_register_with_config_flag_and_dry_run(tmp_path: Path) -> None:
    formation = tmp_path / "conf" / "muxi.yaml"
    formation.parent.mkdir()
    formation.write_text("agents:\n  - name: a\n")
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(formation),
            "create",
            "mcp-server",
            "--name",
            "r2",
            "--register",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "Would register r2" in result.stderr and "mcp_servers:" in result.stderr
    assert formation.read_text() == "agents:\n  - name: a\n"


def test_register_without_a_formation(tmp_path: Path) -> None:
    result = invoke("--name", "lonely", "--register")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "muxi init" in result.stderr  # type: ignore[attr-defined]
    assert not (tmp_path / "lonely").exists()


def test_interactive_flow_through_the_command(tmp_path: Path) -> None:
    (tmp_path / "muxi.yaml").write_text("agents:\n  - name: a\n")
    with create_pipe_input() as pipe:
        pipe.send_text("chatty\n\nping\nn\nn\nstdio\nBob\ny\n")
        result = run_create(
            None,
            dict.fromkeys(
                ("name", "description", "tools", "resources", "prompts", "transport"),
                None,
            )
            | {"author": None, "dockerfile": None, "register": None},
            output_dir=None,
            interactive=True,
            dry_run=False,
            force=False,
            json_output=True,
            prompter=PromptToolkitPrompter(input=pipe, output=DummyOutput()),
        )
    assert result["name"] == "chatty" and result["tools"] == ["ping"]
    assert (result["resources"], result["prompts"], result["transport"]) == (False, False, "stdio")
    assert result["author"] == {"name": "Bob", "email": None}
    assert result["registered"]["server"] == "chatty"
    assert "chatty" in load_formation(tmp_path / "muxi.yaml").formation.mcp_servers


def test_real_process_without_a_terminal_asks_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "muxi_cli", "create", "mcp-server", "--name", "piped", "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"]
    assert (tmp_path / "piped/src/piped/server.py").is_file()
