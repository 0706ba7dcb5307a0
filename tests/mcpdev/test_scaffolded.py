"""The tooling against a freshly scaffolded project (run from its source, not installed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.mcpdev.docs import generate
from muxi_cli.mcpdev.target import parse_target
from muxi_cli.mcpdev.testing import run_tests

PY = sys.executable


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("scaffold") / "weather"
    result = CliRunner().invoke(
        app,
        [
            "create",
            "mcp-server",
            "--no-input",
            "--name",
            "weather-tools",
            "--output-dir",
            str(where),
            "--no-register",
        ],
    )
    assert result.exit_code == 0, result.output
    return where


def test_generated_readme_mentions_the_tooling(project: Path) -> None:
    readme = (project / "README.md").read_text(encoding="utf-8")
    for command in (
        "muxi mcp validate",
        "muxi mcp test",
        "muxi mcp docs",
        "muxi mcp inspect",
        "/mcp attach",
    ):
        assert command in readme


def test_validate_the_scaffolded_server(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(
        app,
        [
            "mcp",
            "validate",
            "--json",
            "--env",
            f"PYTHONPATH={project / 'src'}",
            "--",
            PY,
            "-m",
            "weather_tools",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["summary"]["fail"] == 0
    assert report["server"]["name"] == "weather-tools" and report["server"]["version"] == "0.1.0"
    # word_count and the two MCP feature examples (slow_count, color_swatch)
    assert report["counts"] == {"tools": 3, "resources": 1, "resource_templates": 1, "prompts": 1}
    passed = {c["id"] for c in report["checks"] if c["status"] == "pass"}
    assert {"stdout", "input-schema", "output-schema", "output-match", "tool-name"} <= passed


async def test_test_and_docs_of_the_scaffolded_server(project: Path) -> None:
    target = parse_target(
        [PY, "-m", "weather_tools"], env={"PYTHONPATH": str(project / "src")}, cwd=project
    )
    report = await run_tests(target)
    assert report.ok, [i.to_dict() for i in report.items if i.verdict != "pass"]
    kinds = {i.kind for i in report.items}
    assert kinds == {"tool", "resource", "template", "prompt"}
    assert all(i.verdict == "pass" for i in report.items)
    text = await generate(target)
    assert "# weather-tools" in text and "### `word_count`" in text
    assert "| `text` | string | yes |" in text and "| `times` | integer | no |" in text
