"""Generated projects, one per transport: files, no placeholders, a working server,
and the project's own test suite passing (run with this venv's Python)."""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mcp import Client

from muxi_cli.scaffold.generate import plan_project
from muxi_cli.scaffold.options import MCP_REQUIREMENT
from tests.scaffold.helpers import (
    clean_env,
    generate,
    imported_server,
    make_options,
    placeholders_left,
    run_generated_tests,
)

COMMON = {
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "src/demo_server/__init__.py",
    "src/demo_server/__main__.py",
    "src/demo_server/server.py",
    "tests/conftest.py",
    "tests/test_server.py",
}


@pytest.mark.parametrize(
    ("transport", "extra"),
    [
        ("stdio", {"tests/test_stdio.py"}),
        ("http", {"tests/test_http.py"}),
        ("both", {"tests/test_stdio.py", "tests/test_http.py"}),
    ],
)
def test_files_per_transport(tmp_path: Path, transport: str, extra: set[str]) -> None:
    plan = plan_project(make_options(tmp_path, transport=transport))
    assert {f.path for f in plan.files} == COMMON | extra


def test_dockerfile_only_when_asked(tmp_path: Path) -> None:
    plan = plan_project(make_options(tmp_path, dockerfile=True, transport="http"))
    files = {f.path: f.content for f in plan.files}
    assert {"Dockerfile", ".dockerignore"} <= set(files)
    docker = files["Dockerfile"]
    assert re.search(r"^USER mcp$", docker, re.M), "runs as a non-root user"
    assert "useradd" in docker
    assert '"--transport", "http"' in docker and '"--host", "0.0.0.0"' in docker
    assert "EXPOSE 8000" in docker


@pytest.mark.parametrize("transport", ["stdio", "http", "both"])
def test_generated_project_works(tmp_path: Path, transport: str) -> None:
    plan = generate(tmp_path, transport=transport, tools=["forecast", "get_alerts"])
    project = plan.project_dir
    assert placeholders_left(project) == []

    # Every Python file parses; pyproject is valid and pins the SDK's major version.
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "demo-server"
    assert MCP_REQUIREMENT in meta["project"]["dependencies"]
    assert meta["project"]["scripts"] == {"demo-server": "demo_server.__main__:main"}
    assert meta["project"]["authors"] == [{"name": "Ada Lovelace", "email": "ada@example.org"}]

    # The server module, imported from src/, serves a real client in memory.
    with imported_server(project, "demo_server") as module:
        asyncio.run(_in_memory_round_trip(module.create_server()))

    # __main__ offers exactly the chosen transports.
    help_text = subprocess.run(
        [sys.executable, "-m", "demo_server", "--help"],
        cwd=project,
        env={**clean_env(), "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    choices = {"stdio": "{stdio}", "http": "{http}", "both": "{stdio,http}"}[transport]
    assert choices in help_text
    assert ("--port" in help_text) == (transport != "stdio")

    # The project's own tests pass.
    proc = run_generated_tests(project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = re.search(r"(\d+) passed", proc.stdout)
    assert counts, proc.stdout
    # in-memory: identity + listing + 3 per tool + 2 resources + 1 prompt + 3 extras
    # (progress, log level, image) + 2 completions; stdio adds 2, http 1
    expected = 1 + 1 + 3 * 2 + 2 + 1 + 3 + 2 + {"stdio": 2, "http": 1, "both": 3}[transport]
    assert int(counts.group(1)) == expected, proc.stdout
    assert "skipped" not in proc.stdout


async def _in_memory_round_trip(server: object) -> None:
    async with Client(server) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        assert sorted(t.name for t in tools.tools) == [
            "color_swatch",
            "forecast",
            "get_alerts",
            "slow_count",
        ]
        result = await client.call_tool("get_alerts", {"text": "two words"})
        assert result.structured_content == {"text": "two words", "words": 2, "characters": 9}


def test_generated_code_is_lint_clean(tmp_path: Path) -> None:
    plan = generate(tmp_path, dockerfile=True, tools=["a_tool", "b_tool"])
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed")
    project = plan.project_dir
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run(
            [str(ruff), *args], cwd=project, capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_minimal_project_without_tools(tmp_path: Path) -> None:
    plan = generate(tmp_path, tools=[], prompts=False, transport="stdio", extras=False)
    server = (plan.project_dir / "src/demo_server/server.py").read_text()
    assert "@server.completion" not in server and "Image" not in server
    assert "ToolError" not in server and "@server.tool" not in server
    assert "@server.resource" in server and "@server.prompt" not in server
    proc = run_generated_tests(plan.project_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_uses_absolute_paths_and_mentions_the_muxi_tools(tmp_path: Path) -> None:
    plan = generate(tmp_path, transport="both", dockerfile=True)
    readme = (plan.project_dir / "README.md").read_text()
    venv_python = str(plan.project_dir / ".venv" / "bin" / "python")
    assert f'"command": "{venv_python}"' in readme
    assert f'command: "{venv_python}"' in readme
    assert "npx @modelcontextprotocol/inspector --cli" in readme
    for command in (
        "muxi mcp validate",
        "muxi mcp test",
        "muxi mcp docs",
        "muxi mcp inspect",
        "/mcp attach",
    ):
        assert command in readme
    assert "docker build" in readme
    # The JSON and YAML snippets parse.
    blocks = re.findall(r"```(json|yaml)\n(.*?)```", readme, re.S)
    assert {kind for kind, _ in blocks} == {"json", "yaml"}
    import json

    import yaml

    for kind, body in blocks:
        data = json.loads(body) if kind == "json" else yaml.safe_load(body)
        assert data
