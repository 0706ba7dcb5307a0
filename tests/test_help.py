"""``muxi --help``, ``muxi <group> --help`` and ``muxi --version``.

The top-level help and the version run in a real subprocess (the way users
start muxi); every group's and sub-command's help runs in-process through
Typer's test runner, which is the same click command tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from muxi_cli import __version__

ROOT = Path(__file__).resolve().parent.parent

#: Every top-level command and group ``muxi --help`` must list.
GROUPS = [
    "chat",
    "agents",
    "sessions",
    "memory",
    "knowledge",
    "mcp",
    "tools",
    "create",
    "serve",
    "profile",
    "keys",
    "init",
    "config",
    "doctor",
]

_ROW = re.compile(r"^[\s│|]*(?P<name>[a-z][a-z0-9-]*)\s{2,}(?P<help>\S.*?)[\s│|]*$")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MUXI_HOME=str(home), COLUMNS="200", NO_COLOR="1", TERM="dumb")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _muxi(*args: str, home: Path, script: bool = False) -> subprocess.CompletedProcess[str]:
    muxi = Path(sys.executable).with_name("muxi")
    cmd = [str(muxi), *args] if script else [sys.executable, "-m", "muxi_cli", *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=_env(home),
        cwd=home,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def _commands_panel(text: str) -> dict[str, str]:
    """``{name: help}`` for the rows of the help's Commands section."""
    rows: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if "Commands" in line and (line.lstrip().startswith(("╭", "+", "Commands"))):
            inside = True
            continue
        if not inside:
            continue
        if line.lstrip().startswith(("╰", "+")) or not line.strip():
            break
        match = _ROW.match(line)
        if match:
            rows[match["name"]] = match["help"].strip()
    return rows


def test_root_help_lists_every_group_with_a_help_line(muxi_home: Path) -> None:
    done = _muxi("--help", home=muxi_home)
    assert done.returncode == 0, done.stderr
    rows = _commands_panel(done.stdout)
    missing = [g for g in GROUPS if g not in rows]
    assert not missing, f"`muxi --help` does not list {missing}; it lists {sorted(rows)}"
    empty = [g for g in GROUPS if len(rows[g]) < 10]
    assert not empty, f"commands without a one-line help: {empty}"
    assert done.stderr == "", "help goes to stdout and nothing else is printed"


def test_console_script_help_and_version(muxi_home: Path) -> None:
    script = Path(sys.executable).with_name("muxi")
    if not script.exists():
        pytest.skip("the muxi console script is not installed next to this Python")
    done = _muxi("--help", home=muxi_home, script=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: muxi " in done.stdout
    assert set(GROUPS) <= set(_commands_panel(done.stdout))


def test_version(muxi_home: Path) -> None:
    done = _muxi("--version", home=muxi_home)
    assert done.returncode == 0, done.stderr
    # The dev environment has every part (tests/packaging checks fewer).
    assert done.stdout.strip() == (
        f"muxi {__version__} (parts: client, local, memory, server, postgres, web, media, telemetry)"
    )
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


def test_help_creates_nothing(muxi_home: Path) -> None:
    before = sorted(muxi_home.rglob("*"))
    done = _muxi("chat", "--help", home=muxi_home)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert sorted(muxi_home.rglob("*")) == before


# --------------------------------------------------------------------------- in-process


@pytest.fixture(scope="module")
def root() -> TyperGroup:
    from muxi_cli.cli.app import app

    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return command


def _subcommands(group: TyperGroup) -> dict[str, Any]:
    ctx = typer.Context(group)
    return {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}


def _walk(group: TyperGroup, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, command in _subcommands(group).items():
        assert command is not None
        yield (*path, name), command
        if isinstance(command, TyperGroup):
            yield from _walk(command, (*path, name))


@pytest.mark.parametrize("group", GROUPS)
def test_group_help(group: str, root: TyperGroup) -> None:
    from muxi_cli.cli.app import app

    command = _subcommands(root).get(group)
    assert command is not None, (
        f"`muxi {group}` is not registered (see COMMANDS in muxi_cli/cli/app.py)"
    )
    result = CliRunner().invoke(app, [group, "--help"], prog_name="muxi", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Usage: muxi {group}" in result.output
    if isinstance(command, TyperGroup):
        listed = _commands_panel(result.output)
        assert listed, f"`muxi {group} --help` lists no sub-commands"
        visible = {n for n, c in _subcommands(command).items() if not c.hidden}
        assert set(listed) == visible


def test_every_command_has_a_help_line_and_help_works(root: TyperGroup) -> None:
    """Every sub-command at every depth has a one-line help and answers --help."""
    from muxi_cli.cli.app import app

    runner = CliRunner()
    no_help: list[str] = []
    broken: list[str] = []
    for path, command in _walk(root, ()):
        if command.hidden:
            continue
        if len(command.get_short_help_str(limit=200).strip()) < 5:
            no_help.append(" ".join(path))
        result = runner.invoke(app, [*path, "--help"], prog_name="muxi")
        if result.exit_code != 0 or "Usage:" not in result.output:
            broken.append(f"{' '.join(path)}: exit {result.exit_code} {result.output[-300:]!r}")
    assert not no_help, f"commands without a help line: {no_help}"
    assert not broken, "`--help` fails for: " + "; ".join(broken)
