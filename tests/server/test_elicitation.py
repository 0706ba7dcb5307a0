"""Elicitation over a real `muxi serve`: the WebSocket frame and the HTTP route,
answered by the turn's own user only; sampling approved like a tool call."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.server.serveproc import ServeProcess

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "elicit_server.py"


def setup(fake_llm: FakeLLM, tmp_path: Path) -> tuple[Path, Path, str, str]:
    home = tmp_path / "serve-home"
    extra = (
        f"mcp_servers:\n  booker:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        "    approval: allow\n"
        "agents:\n  - name: a\n    mcp_servers: [booker]\n"
    )
    config = fake_llm.write_formation(tmp_path, extra=extra)
    keys = KeyStore(home / "data" / "server_keys.json")
    _, alice = keys.create("user", "alice")
    _, bob = keys.create("user", "bob")
    return home, config, alice, bob


async def servers_ready(url: str, key: str) -> None:
    """Until the server's MCP server is ready (an interactive turn does not wait)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        for _ in range(300):
            r = await c.get("/v1/mcp/servers", headers={"authorization": f"Bearer {key}"})
            if any(s["state"] == "ready" for s in r.json()):
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the MCP server did not start: {r.text}")


async def test_over_websocket_only_the_turns_user_can_answer(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    home, config, alice_key, bob_key = setup(fake_llm, tmp_path)
    fake_llm.script(ToolCalls([("booker__book_table", {"day": "Fri"})]), Text("Booked."))
    with ServeProcess(home, config) as proc:
        alice = RemoteRuntime(proc.url, alice_key)
        bob = RemoteRuntime(proc.url, bob_key)
        seen: list[ev.Event] = []
        try:
            await servers_ready(proc.url, alice_key)
            turn = await alice.chat(ChatRequest(message="book", approval="interactive"))
            async with turn:
                async for event in turn.events():
                    seen.append(event)
                    if isinstance(event, ev.ElicitationRequested):
                        assert event.pending and event.server == "booker"
                        assert turn.inputs() == [event.elicitation_id]
                        # Bob, over his own socket, cannot answer Alice's question.
                        async with httpx.AsyncClient(base_url=proc.url) as c:
                            r = await c.post(
                                f"/v1/elicitations/{event.elicitation_id}",
                                json={"action": "accept", "content": {"name": "Bob", "party": 9}},
                                headers={"authorization": f"Bearer {bob_key}"},
                            )
                        assert r.status_code == 404, r.text
                        await turn.answer_elicitation(
                            event.elicitation_id, "accept", {"name": "Alice", "party": 3}
                        )
        finally:
            await alice.aclose()
            await bob.aclose()
    resolved = next(e for e in seen if isinstance(e, ev.ElicitationResolved))
    assert (resolved.action, resolved.by) == ("accept", "user")
    result = next(e for e in seen if isinstance(e, ev.ToolResult))
    assert result.content == "booked Fri for Alice, 3 people"
    assert seen[-1].type == ev.RUN_COMPLETED


async def test_over_http_the_route_answers_and_a_scripted_turn_declines(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    home, config, alice_key, bob_key = setup(fake_llm, tmp_path)
    alice = {"authorization": f"Bearer {alice_key}"}
    sse = {**alice, "accept": "text/event-stream"}
    fake_llm.script(
        ToolCalls([("booker__book_table", {"day": "Sat"})]),
        Text("Declined."),
        ToolCalls([("booker__book_table", {"day": "Sun"})]),
        Text("Booked."),
    )
    with ServeProcess(home, config) as proc:
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as c:
            await servers_ready(proc.url, alice_key)
            # A non-interactive turn: declined by the policy, said on the stream.
            kinds = []
            body = {"message": "book", "stream": True, "approval": "deny"}
            async with c.stream("POST", "/v1/chat", json=body, headers=sse) as s:
                async for line in s.aiter_lines():
                    if line.startswith("data: "):
                        e = json.loads(line[6:])
                        kinds.append((e["type"], e.get("action"), e.get("by")))
            assert ("elicitation.resolved", "decline", "policy") in kinds

            # An interactive SSE turn, answered through POST /v1/elicitations/{id}.
            body = {"message": "book", "stream": True, "approval": "interactive"}
            answered = None
            async with c.stream("POST", "/v1/chat", json=body, headers=sse) as s:
                async for line in s.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    if event["type"] == "elicitation.requested":
                        path = f"/v1/elicitations/{event['elicitation_id']}"
                        bad = await c.post(
                            path,
                            json={"action": "accept", "content": {"name": "A"}},
                            headers=alice,
                        )
                        assert bad.status_code == 400, bad.text  # party is required
                        r = await c.post(
                            path,
                            json={"action": "accept", "content": {"name": "B", "party": 1}},
                            headers={"authorization": f"Bearer {bob_key}"},
                        )
                        assert r.status_code == 404, r.text  # not bob's turn
                        r = await c.post(
                            path,
                            json={"action": "accept", "content": {"name": "Al", "party": 2}},
                            headers=alice,
                        )
                        assert r.status_code == 200, r.text
                        answered = r.json()
                    if event["type"] == "tool.result":
                        assert event["content"] == "booked Sun for Al, 2 people"
                    if event["type"] in ("run.completed", "run.failed"):
                        assert event["type"] == "run.completed", event
                        break
            assert answered is not None and answered["run_id"].startswith("run_")


async def test_sampling_over_websocket_is_approved_by_the_user_and_counted(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    home, config, alice_key, _bob_key = setup(fake_llm, tmp_path)
    fake_llm.script(
        ToolCalls([("booker__summarize", {"text": "a long text"})]),
        Text("short"),
        Text("Summarized."),
    )
    with ServeProcess(home, config) as proc:
        alice = RemoteRuntime(proc.url, alice_key)
        seen: list[ev.Event] = []
        try:
            await servers_ready(proc.url, alice_key)
            turn = await alice.chat(ChatRequest(message="sum up", approval="interactive"))
            async with turn:
                async for event in turn.events():
                    seen.append(event)
                    if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                        await turn.approve(event.call_id, "allow")
        finally:
            await alice.aclose()
    asked = next(e for e in seen if isinstance(e, ev.SamplingRequested))
    decided = [
        e.decision
        for e in seen
        if isinstance(e, ev.ToolApproval) and e.call_id == asked.sampling_id
    ]
    assert decided == ["pending", "allowed"]
    result = next(e for e in seen if isinstance(e, ev.ToolResult))
    assert result.content == f"summary ({asked.model}): short"
    assert sum(e.output_tokens for e in seen if isinstance(e, ev.Usage)) > 0
    assert len([e for e in seen if isinstance(e, ev.Usage)]) == 2


async def test_the_python_client_answers_over_sse_with_elicit_and_no_approval(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    from muxi_cli.client import AsyncClient

    home, config, alice_key, _bob_key = setup(fake_llm, tmp_path)
    fake_llm.script(ToolCalls([("booker__book_table", {"day": "Wed"})]), Text("Booked."))
    with ServeProcess(home, config) as proc:
        await servers_ready(proc.url, alice_key)
        client = AsyncClient(proc.url, alice_key)
        seen: list[ev.Event] = []
        try:
            async with await client.chat("book", elicit=True) as turn:
                assert turn.transport == "sse"
                async for event in turn:
                    seen.append(event)
                    if isinstance(event, ev.ElicitationRequested):
                        assert event.pending and turn.inputs() == [event.elicitation_id]
                        await turn.answer_elicitation(
                            event.elicitation_id, "accept", {"name": "Wu", "party": 5}
                        )
        finally:
            await client.aclose()
    result = next(e for e in seen if isinstance(e, ev.ToolResult))
    assert result.content == "booked Wed for Wu, 5 people"
