"""``muxi create mcp-server NAME --register-only``: register an existing project again.

Once the project has its own ``.venv``, its entry in muxi.yaml is pointed at
that venv in place: no project file is regenerated, every comment and every
other line of muxi.yaml is kept, and an entry the user changed is left alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.config.loader import load_formation
from muxi_cli.scaffold.register import register_server
from tests.scaffold.helpers import generate

FORMATION = """\
# my formation (top comment)
agents:
  - name: helper   # the default agent
    tools: [calculator]

mcp_servers:
  existing:   # keep me
    command: echo
# --- after the servers
approval:
  default: ask
"""


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def _project(tmp_path: Path, *, registered: bool = True) -> tuple[Path, Path]:
    """A generated project (registered with muxi's Python, as right after generation)."""
    formation = tmp_path / "muxi.yaml"
    formation.write_text(FORMATION)
    plan = generate(tmp_path)
    if registered:
        register_server(formation, plan.options)
    return formation, plan.project_dir


def _give_it_a_venv(project: Path) -> Path:
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    return python


def _files(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and ".venv" not in p.parts
    }


def reregister(formation: Path, project: Path, *extra: str) -> object:
    args = ["--config", str(formation), "create", "mcp-server", project.name, "--register-only"]
    return CliRunner().invoke(app, [*args, "-o", str(project), *extra])


def test_points_the_entry_at_the_project_venv_in_place(tmp_path: Path) -> None:
    formation, project = _project(tmp_path)
    before_text = formation.read_text()
    (project / "src" / "demo_server" / "server.py").write_text("# my own server code\n")
    files = _files(project)
    python = _give_it_a_venv(project)

    result = reregister(formation, project)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "updated the existing entry" in result.stderr  # type: ignore[attr-defined]
    assert _files(project) == files  # nothing regenerated: the user's server.py is intact

    text = formation.read_text()
    server = load_formation(formation).formation.mcp_servers["demo-server"]
    assert server.command == str(python)
    assert server.args == ["-m", "demo_server"] and server.cwd == str(project)
    assert not server.env  # no PYTHONPATH into src: the venv has the package
    # Only the entry's own lines changed; comments and the agent's list are as they were.
    changed = set(text.splitlines()) ^ set(before_text.splitlines())
    assert all("PYTHONPATH" in line or "command:" in line or "env:" in line for line in changed)
    assert (
        "# keep me" in text and "# --- after the servers" in text and "# the default agent" in text
    )
    agent = load_formation(formation).formation.agent("helper")
    assert agent is not None and agent.mcp_servers == ["demo-server"]

    again = reregister(formation, project, "--json")
    assert again.exit_code == 0  # type: ignore[attr-defined]
    assert json.loads(again.stdout)["notes"] == ["the entry was already up to date"]  # type: ignore[attr-defined]
    assert formation.read_text() == text


def test_registers_an_existing_project_that_has_no_entry(tmp_path: Path) -> None:
    formation, project = _project(tmp_path, registered=False)
    python = _give_it_a_venv(project)
    result = reregister(formation, project)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    loaded = load_formation(formation).formation
    assert loaded.mcp_servers["demo-server"].command == str(python)
    agent = loaded.agent("helper")
    assert agent is not None and agent.mcp_servers == ["demo-server"]


def test_dry_run_shows_the_entry_and_writes_nothing(tmp_path: Path) -> None:
    formation, project = _project(tmp_path)
    before = formation.read_text()
    python = _give_it_a_venv(project)
    result = reregister(formation, project, "--dry-run")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "Would register demo-server" in result.stderr and str(python) in result.stderr  # type: ignore[attr-defined]
    assert formation.read_text() == before


def test_an_entry_with_the_users_own_settings_is_left_alone(tmp_path: Path) -> None:
    formation, project = _project(tmp_path)
    text = formation.read_text().replace("    env:\n", "    startup_timeout: 99\n    env:\n")
    assert "startup_timeout: 99" in text
    formation.write_text(text)
    _give_it_a_venv(project)
    result = reregister(formation, project)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "settings muxi did not write" in result.stderr  # type: ignore[attr-defined]
    assert ".venv/bin/python" in result.stderr  # the snippet to paste  # type: ignore[attr-defined]
    assert formation.read_text() == text


def test_refuses_another_projects_entry_and_a_missing_project(tmp_path: Path) -> None:
    formation, project = _project(tmp_path)
    before = formation.read_text()
    elsewhere = tmp_path / "copy" / project.name
    elsewhere.parent.mkdir()
    project.rename(elsewhere)
    (tmp_path / "copy" / "x").write_text("")
    other = reregister(formation, elsewhere)
    assert other.exit_code == 2 and "not the project at" in other.stderr  # type: ignore[attr-defined]

    missing = reregister(formation, tmp_path / "nothing-here")
    assert missing.exit_code == 2 and "no generated project" in missing.stderr  # type: ignore[attr-defined]
    both = reregister(formation, elsewhere, "--force")
    assert both.exit_code == 2 and "cannot be combined" in both.stderr  # type: ignore[attr-defined]
    assert formation.read_text() == before
