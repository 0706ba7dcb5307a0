"""The formation the image serves by default (docker/muxi.yaml): muxi's own loader
accepts it, and its MCP servers start from the commands the image puts on PATH."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.container.support import FORMATION, NODE_BIN, Container


@pytest.fixture(scope="module")
def tools() -> Iterator[list[dict[str, Any]]]:
    """``muxi mcp tools --json`` of the default formation, in the image's environment."""
    box = Container()
    try:
        env = box.env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        result = subprocess.run(
            [sys.executable, "-m", "muxi_cli", "mcp", "tools", "--json"],
            env=env,
            cwd=box.root,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert result.returncode == 0, result.stderr
        yield json.loads(result.stdout)
    finally:
        box.remove()


def test_the_default_formation_validates() -> None:
    box = Container()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "muxi_cli", "config", "validate", str(FORMATION), "--json"],
            env=box.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        box.remove()
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["valid"] is True


@pytest.mark.slow
def test_time_and_fetch_start_with_their_policies(tools: list[dict[str, Any]]) -> None:
    by_server: dict[str, dict[str, str]] = {}
    for tool in tools:
        by_server.setdefault(tool["server"], {})[tool["tool"]] = tool["policy"]
    assert by_server["time"] == {"get_current_time": "allow", "convert_time": "allow"}
    assert by_server["fetch"] == {"fetch": "ask"}


@pytest.mark.slow
def test_filesystem_reads_freely_and_asks_before_writing(tools: list[dict[str, Any]]) -> None:
    if not NODE_BIN.is_dir():
        pytest.skip("the filesystem MCP server is not installed: npm ci --prefix docker/mcp")
    policies = {t["tool"]: t["policy"] for t in tools if t["server"] == "filesystem"}
    # Every read-only tool the formation allows is a tool the server has (no typo).
    assert {name for name, policy in policies.items() if policy == "allow"} == {
        "read_file",
        "read_text_file",
        "read_media_file",
        "read_multiple_files",
        "list_directory",
        "list_directory_with_sizes",
        "directory_tree",
        "search_files",
        "get_file_info",
        "list_allowed_directories",
    }
    for writer in ("write_file", "edit_file", "create_directory", "move_file"):
        assert policies[writer] == "ask"


TICKETS = '''
from mcp.server import MCPServer

server = MCPServer("tickets")


@server.tool()
def open_tickets() -> str:
    """How many tickets are open."""
    return "3 open"


server.run()
'''


@pytest.mark.slow
def test_mounted_mcp_server_code_runs_from_the_formation_folder() -> None:
    """docs/container.md, "Mount custom MCP server code": a folder with muxi.yaml and
    servers/tickets.py, the command run through the entrypoint as the image's user.
    The dev venv's python stands in for the image's /opt/mcp/bin/python."""
    box = Container()
    try:
        folder = box.root / "formation"
        (folder / "servers").mkdir(parents=True)
        (folder / "servers" / "tickets.py").write_text(TICKETS)
        (folder / "muxi.yaml").write_text(
            "mcp_servers:\n"
            "  tickets:\n"
            f"    command: {sys.executable}\n"
            "    args: [servers/tickets.py]\n"
            "    cwd: .\n"
            "agents:\n"
            "  - name: assistant\n"
            "    mcp_servers: [tickets]\n"
        )
        folder.chmod(0o755)
        (folder / "servers").chmod(0o755)
        result = box.run("muxi", "mcp", "tools", "--json", MUXI_CONFIG=str(folder / "muxi.yaml"))
        assert result.returncode == 0, result.stderr
        names = [t["name"] for t in json.loads(result.stdout)]
        assert names == ["tickets__open_tickets"]
    finally:
        box.remove()
