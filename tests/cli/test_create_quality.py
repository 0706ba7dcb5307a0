"""The scaffolded MCP server passes `muxi mcp validate` cleanly and imports only what it
uses; readable help."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from tests.cli.support import invoke, plain_help

PY = sys.executable


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def _create(where: Path, *flags: str) -> Path:
    code, _, err = invoke(
        "create", "mcp-server", "--no-input", "--no-register", "--output-dir", str(where), *flags
    )
    assert code == 0, err
    return where


def test_scaffolded_server_passes_validate_without_warnings(tmp_path: Path) -> None:
    project = _create(tmp_path / "wt", "--name", "weather-tools")
    code, out, err = invoke(
        "mcp",
        "validate",
        "--json",
        "--slow-ms",  # start-up time is not what this checks; a loaded machine takes seconds
        "60000",
        "--env",
        f"PYTHONPATH={project / 'src'}",
        "--",
        PY,
        "-m",
        "weather_tools",
    )
    assert code == 0, err
    report = json.loads(out)
    problems = [c for c in report["checks"] if c["status"] != "pass"]
    assert report["summary"]["warn"] == 0 and report["summary"]["fail"] == 0, problems


@pytest.mark.parametrize(
    "flags",
    [
        ("--no-tools",),
        ("--no-tools", "--no-prompts"),
        ("--no-prompts",),
        ("--no-tools", "--no-resources"),
        (),
    ],
)
def test_scaffolded_server_imports_only_what_it_uses(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    project = _create(tmp_path / "p", "--name", "probe-server", *flags)
    source = (project / "src" / "probe_server" / "server.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            imported += [alias.asname or alias.name for alias in node.names]
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {
        n.value.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }
    assert [name for name in imported if name not in used] == []


def test_create_help_keeps_its_examples_one_per_line() -> None:
    out = plain_help("create", "mcp-server")
    lines = [line.strip() for line in out.splitlines()]
    assert "muxi create mcp-server --name weather --tool forecast --no-input" in lines
    assert "--tool NAME" in out and "list[str]" not in out
