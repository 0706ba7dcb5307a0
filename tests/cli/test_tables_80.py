"""Every CLI table at 80 columns and piped: essential columns whole, free text wrapped.

The rule lives in :func:`muxi_cli.cli.output.print_table`; each command's table
is checked here with values long enough to have been cut or hidden before.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.cli.output import PIPE_WIDTH, Column, print_table
from muxi_cli.runtime import profiles
from muxi_cli.stores.sessions import SessionStore

SERVERS = Path(__file__).resolve().parent.parent / "mcp_servers"
LONG_SERVER = "a_rather_long_server_name"
LONG_TEXT = (
    "answers questions about trains and timetables and platforms and delays and "
    "refunds and the many reasons a connection can be missed"
)
FORMATION = f"""
memory:
  embedding: hash
mcp_servers:
  {LONG_SERVER}:
    command: {sys.executable}
    args: ["{SERVERS / "demo_server.py"}"]
    tools: {{echo: allow}}
agents:
  - name: conductor_with_a_long_name
    description: "{LONG_TEXT}"
    mcp_servers: [{LONG_SERVER}]
    tools: [calculator, fetch_url, datetime]
  - name: second_agent_name
    description: "short"
    tools: [calculator, {{builtin: datetime, approval: deny}}]
  - name: third_agent_name
    tools: [calculator]
"""

WIDTHS = [pytest.param("80", id="80-columns"), pytest.param(None, id="piped")]


@pytest.fixture(autouse=True)
def formation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MUXI_USER_ID", "tester")
    path = tmp_path / "muxi.yaml"
    path.write_text(FORMATION)
    return path


def run(width: str | None, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    if width is None:
        monkeypatch.delenv("COLUMNS", raising=False)  # not a terminal: PIPE_WIDTH
    else:
        monkeypatch.setenv("COLUMNS", width)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_rule(out: str, width: str | None, whole: list[str], wrapped: str = "") -> None:
    """Fits the width; every essential value shows whole on a line; no free-text word is lost."""
    limit = int(width) if width else PIPE_WIDTH
    lines = out.splitlines()
    assert all(len(line.rstrip()) <= limit for line in lines), out
    for value in whole:
        assert any(value in line for line in lines), (value, out)
    words = set(out.split())
    assert all(word in words for word in wrapped.split()), out


# --------------------------------------------------------------------------- the rule itself


def render(width: int, columns: list[Column], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, highlight=False, color_system=None)
    print_table(columns, rows, console=console)
    return buffer.getvalue()


def test_essential_columns_stay_whole_and_free_text_wraps() -> None:
    columns = [Column("TOOL"), Column("POLICY"), Column("DESCRIPTION", wrap=True)]
    rows = [["server__a_fairly_long_tool_name", "allow", LONG_TEXT], ["calc", "ask", "math"]]
    out = render(80, columns, rows)
    assert out.splitlines()[0].split() == ["TOOL", "POLICY", "DESCRIPTION"]
    assert_rule(out, "80", ["server__a_fairly_long_tool_name  allow", "calc", "ask"], LONG_TEXT)
    assert len(out.splitlines()) > 3  # the description wrapped onto more lines
    # Wide enough: one line per row, no padding beyond the longest text.
    wide = render(300, columns, rows)
    assert len(wide.splitlines()) == 3


def test_too_narrow_for_side_by_side_puts_free_text_below() -> None:
    columns = [Column("NAME"), Column("KIND"), Column("A", wrap=True), Column("B", wrap=True)]
    rows = [["x" * 50, "knowledge", "first free text", LONG_TEXT]]
    out = render(70, columns, rows)
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND"]
    assert lines[1].split() == ["x" * 50, "knowledge"]
    assert lines[2].strip() == "a: first free text" and lines[3].strip().startswith("b: ")
    assert_rule(out, "70", ["x" * 50], LONG_TEXT)


# --------------------------------------------------------------------------- each command's table


@pytest.mark.parametrize("width", WIDTHS)
def test_tools_list(width: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(width, monkeypatch, "tools", "list")
    assert out.splitlines()[0].split()[:3] == ["TOOL", "SOURCE", "POLICY"]
    assert_rule(out, width, [f"{LONG_SERVER}__echo", f"mcp:{LONG_SERVER}", "allow", "calculator"])
    row = next(line for line in out.splitlines() if line.startswith(f"{LONG_SERVER}__echo"))
    assert "allow" in row  # the policy is on the tool's own line


@pytest.mark.parametrize("width", WIDTHS)
def test_mcp_list_and_tools(width: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(width, monkeypatch, "mcp", "list")
    assert_rule(out, width, [LONG_SERVER, "stdio", "ready"])
    out = run(width, monkeypatch, "mcp", "tools")
    assert_rule(out, width, [f"{LONG_SERVER}__echo", "allow"])


@pytest.mark.parametrize("width", WIDTHS)
def test_agents_list(width: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(width, monkeypatch, "agents", "list")
    names = ["conductor_with_a_long_name", "second_agent_name", "third_agent_name"]
    assert_rule(out, width, names, LONG_TEXT)


@pytest.mark.parametrize("width", WIDTHS)
def test_memory_and_sessions_lists(width: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    added = CliRunner().invoke(app, ["memory", "add", LONG_TEXT, "--kind", "knowledge"])
    assert added.exit_code == 0, added.output
    out = run(width, monkeypatch, "memory", "list")
    assert_rule(out, width, [added.stdout.strip(), "knowledge"], LONG_TEXT)
    out = run(width, monkeypatch, "memory", "search", "trains timetables")
    assert_rule(out, width, [added.stdout.strip(), "knowledge"], LONG_TEXT)

    store = SessionStore()
    try:
        info = store.create_session("tester", title=LONG_TEXT, agent="conductor_with_a_long_name")
    finally:
        store.close()
    out = run(width, monkeypatch, "sessions", "list")
    assert_rule(out, width, [info.id, "conductor_with_a_long_name", "just now"], LONG_TEXT)


@pytest.mark.parametrize("width", WIDTHS)
def test_keys_profile_and_doctor(width: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(width, monkeypatch, "keys", "list")
    assert_rule(out, width, ["Provider keys", "openai", "not set", "OPENAI_API_KEY"])

    url = "http://a-server-with-a-rather-long-host-name.example.internal:8765"
    profiles.add_profile("production-eu-west", url, LONG_TEXT)
    profiles.store_key("production-eu-west", "muxi_0000000000_secret")
    out = run(width, monkeypatch, "profile", "list")
    assert_rule(out, width, ["production-eu-west", url, "stored"], LONG_TEXT)

    monkeypatch.setenv("COLUMNS", width or "")
    result = CliRunner().invoke(app, ["doctor"])
    out = result.stdout
    assert "CHECK" in out and "python" in out
    assert_rule(out, width, ["python"])
