"""``muxi serve`` with an MCP server that reports progress and asks for roots
(tests/mcp_servers/progress_server.py): a user's stream carries the call's
``tool.progress`` events, and the roots the server gets are that user's folders
(``files.user_keys: per_user``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.server.serveproc import ServeProcess

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "progress_server.py"


def _events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]


def test_progress_events_and_per_user_roots_over_serve(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _, alice = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    extra = (
        f"mcp_servers:\n  prog:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        "    approval: allow\n"
        "files:\n  roots: [work]\n  user_keys: per_user\n"
        "agents:\n  - name: a\n    mcp_servers: [prog]\n"
    )
    with FakeLLM() as llm:
        config = tmp_path / "muxi.yaml"
        config.write_text(llm.formation_yaml(extra=extra))
        with ServeProcess(home, config) as proc:
            llm.script(
                ToolCalls([("prog__count", {"steps": 2})]),
                Text("counted"),
                ToolCalls([("prog__roots", {})]),
                Text("rooted"),
            )
            head = {"authorization": f"Bearer {alice}", "accept": "text/event-stream"}
            with httpx.Client(base_url=proc.url, timeout=60) as c:
                first = c.post("/v1/chat", json={"message": "count"}, headers=head)
                second = c.post("/v1/chat", json={"message": "roots"}, headers=head)
    assert first.status_code == 200, first.text
    events = _events(first.text)
    progress = [e for e in events if e["type"] == "tool.progress"]
    assert [(e["progress"], e["total"], e["message"]) for e in progress] == [
        (1, 2, "step 1 of 2"),
        (2, 2, "step 2 of 2"),
    ], first.text
    (requested,) = [e for e in events if e["type"] == "tool.requested"]
    assert {e["call_id"] for e in progress} == {requested["call_id"]}
    assert second.status_code == 200, second.text
    (result,) = [e for e in _events(second.text) if e["type"] == "tool.result"]
    assert result["content"] == (tmp_path / "work" / "users" / "alice").resolve().as_uri()
