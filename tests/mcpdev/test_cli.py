"""`muxi mcp validate|test|docs|inspect` end to end: exit codes, JSON reports, docs files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from tests.mcpdev.support import SERVERS

PY = sys.executable
MUXI = [PY, "-m", "muxi_cli"]


def muxi(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_validate_json_for_ci_in_a_real_process() -> None:
    """The CI path: a real `muxi` process, --json on stdout, exit 1 on a failure."""
    done = subprocess.run(
        [*MUXI, "mcp", "validate", "--json", "--", PY, str(SERVERS / "broken_stdout.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["target"]["kind"] == "command" and report["target"]["transport"] == "stdio"
    assert report["server"]["name"] == "broken-stdout"
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert [c["id"] for c in failed] == ["stdout"]
    assert set(report["summary"]) == {"pass", "warn", "fail", "skip"}


def test_validate_table_and_exit_zero_for_a_formation_server(tmp_path: Path) -> None:
    (tmp_path / "muxi.yaml").write_text(
        f"mcp_servers:\n  time:\n    command: {PY}\n    args: [-m, mcp_server_time]\n",
        encoding="utf-8",
    )
    code, out, _ = muxi("mcp", "validate", "time")
    assert code == 0, out
    assert "mcp-time" in out and "Input schemas valid" in out
    assert "✓ OK" in out and "0 failed" in out


def test_test_command_exit_codes_and_json(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "- tool: echo\n  arguments: {text: hi}\n  expect: {contains: hi}\n", encoding="utf-8"
    )
    code, out, _ = muxi(
        "mcp",
        "test",
        "--json",
        "--cases",
        str(cases),
        "--no-generate",
        "--",
        PY,
        str(SERVERS / "demo_server.py"),
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["ok"] is True
    assert [(i["kind"], i["verdict"]) for i in report["items"]] == [("case", "pass")]
    cases.write_text(
        "- tool: echo\n  arguments: {text: hi}\n  expect: {contains: bye}\n", encoding="utf-8"
    )
    code, out, _ = muxi(
        "mcp",
        "test",
        "--cases",
        str(cases),
        "--no-generate",
        "--",
        PY,
        str(SERVERS / "demo_server.py"),
    )
    assert code == 1
    assert "does not contain 'bye'" in out and "✗ FAILED" in out


def test_test_command_fails_on_an_error_result() -> None:
    """Regression (issue 23): "Error executing tool ..." in a result is not a pass."""
    code, out, _ = muxi(
        "mcp", "test", "--no-invalid", "--skip", "crash", "--skip", "sleep",
        "--", PY, str(SERVERS / "demo_server.py"),
    )  # fmt: skip
    assert code == 1, out
    assert "✗ FAILED" in out and "1 failed" in out and "error result" in out


def test_docs_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "TOOLS.md"
    code, _, err = muxi("mcp", "docs", "-o", str(target), "--", PY, str(SERVERS / "demo_server.py"))
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# demo")
    assert "| `text` | string | yes |" in text  # echo's parameters table
    assert '"name": "add"' in text and '"a": 1' in text  # example call
    assert "## Prompts" in text and "| `who` | yes |" in text
    assert "## Resources" in text and "`demo://readme`" in text
    assert "Wrote" in err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = muxi("mcp", "validate", "no-such-server")
    assert code == 2
    assert "not a server in the formation" in err
    code, _, err = muxi("mcp", "test", "--cases", str(tmp_path / "missing.yaml"), "--", PY, "-V")
    assert code == 2 and "cannot read" in err
    code, _, err = muxi("mcp", "validate", "--env", "oops", "--", PY)
    assert code == 2 and "KEY=VALUE" in err


def test_unreachable_server_exits_1() -> None:
    code, out, _ = muxi("mcp", "test", "--", PY, str(SERVERS / "exits_at_start.py"))
    assert code == 1
    assert "could not connect" in out


def test_inspect_needs_a_terminal() -> None:
    code, _, err = muxi("mcp", "inspect", "--", PY, str(SERVERS / "demo_server.py"))
    assert code == 2 and "interactive terminal" in err


def test_help_lists_the_commands() -> None:
    code, out, _ = muxi("mcp", "--help")
    assert code == 0
    for name in ("validate", "test", "docs", "inspect"):
        assert name in out
