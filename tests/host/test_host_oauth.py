"""The warm host and OAuth MCP servers: the local user's own login works through it.

The host serves only this machine's user, so `muxi mcp login NAME` (tokens in
``mcp-oauth:NAME``) must be what its tool calls use, as in a command that runs
in its own process; not a per-user entry of `muxi serve` that nobody wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.host.support import muxi, ok, start, statuses
from tests.tools.test_mcp_oauth import login, oauth_server

pytestmark = pytest.mark.slow


@pytest.fixture
def oauth_url() -> Iterator[str]:
    with oauth_server() as base:
        yield f"{base}/mcp"


def test_the_local_login_serves_calls_and_turns_through_the_host(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path, oauth_url: str
) -> None:
    fake_llm.write_formation(
        tmp_path,
        extra=(
            f"mcp_servers:\n  secure:\n    url: {oauth_url}\n    approval: allow\n"
            "agents:\n  - name: helper\n    mcp_servers: [secure]\n"
        ),
    )
    start()  # before the login: the host's connection waits for one
    [row] = statuses()
    assert row["mcp_servers"] == [{"name": "secure", "state": "failed", "tools": 0}]

    done = login("alice")  # in its own process, as always: `mcp-oauth:secure`
    assert done.returncode == 0, done.stderr

    call = ok(muxi("-v", "mcp", "call", "secure", "whoami"))
    assert "running through the warm host" in call.stderr
    assert call.stdout.strip() == "alice"

    fake_llm.script(ToolCalls([("secure__whoami", {})]), Text("You are alice."))
    turn = ok(muxi("-v", "chat", "who am I?", "-o", "text"))
    assert "running through the warm host" in turn.stderr
    assert turn.stdout.strip() == "You are alice."
    [_, answered] = fake_llm.wait_for_requests(2)
    results = [m for m in answered["messages"] if m.get("role") == "tool"]
    assert results and "alice" in str(results[-1]["content"])

    read = ok(muxi("-v", "mcp", "read", "secure", "oauth://whoami/me"))
    assert "running through the warm host" in read.stderr and "alice" in read.stdout

    listed = {s["name"]: s for s in json.loads(ok(muxi("mcp", "list", "--json")).stdout)}
    assert (listed["secure"]["state"], listed["secure"]["auth"]) == ("ready", "oauth: signed in")
