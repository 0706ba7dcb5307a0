"""Holes found when `muxi serve` was attacked (issue 13: 1, 3, 6, 7, 8, 9), replayed
against a real server on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import select
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from muxi_cli.server.logfilter import RateLimitFilter
from tests.fakellm import Slow, Text, ToolCalls
from tests.security.support_server import (
    FORMATION,
    FORMATION_NO_MCP,
    Deployment,
    await_until,
    deployment,
    wait_until,
)

FAILING = (
    "  broken:\n    command: {py}\n    args: [{script}]\n    approval: ask\n"
    "    startup_timeout: 20\n"
)
#: What the failing MCP server writes to stderr before it exits.
LEAKED = "db password hunter2-very-secret"


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("holes")
    script = root / "fails_at_start.py"
    script.write_text(
        f"import sys\nsys.stderr.write('starting with {LEAKED}\\n')\nsys.exit(3)\n",
        encoding="utf-8",
    )
    extra = FORMATION.replace(
        "agents:\n",
        FAILING.format(py=json.dumps(sys.executable), script=json.dumps(str(script))) + "agents:\n",
    ).replace("mcp_servers: [demo, locked]", "mcp_servers: [demo, locked, broken]")
    with deployment(root, extra, args=("--rate", "0")) as d:
        d.wait_mcp_ready()
        yield d


async def recv(ws: Any, timeout: float = 15) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout)))


async def until_type(ws: Any, kind: str) -> dict[str, Any]:
    for _ in range(200):
        frame = await recv(ws)
        if frame.get("type") == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


async def closed_code(ws: Any, timeout: float = 15) -> int | None:
    """Read frames until the server closes; the close code."""
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(200):
            await asyncio.wait_for(ws.recv(), timeout)
    return info.value.rcvd.code if info.value.rcvd is not None else None


# -- 1. a revoked key stops working on an open WebSocket ---------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "chat", "request": {"message": "one more turn", "approval": "deny"}},
        {"type": "approve", "call_id": "call_x", "decision": "allow"},
        {"type": "cancel", "run_id": "run_x"},
    ],
    ids=["chat", "approve", "cancel"],
)
async def test_a_revoked_key_gets_no_more_work_on_an_open_socket(
    dep: Deployment, frame: dict[str, Any]
) -> None:
    rec, key = dep.keys.create("user", "carol")
    async with connect(dep.ws_url, additional_headers=dep.headers(key)) as ws:
        assert (await recv(ws))["type"] == "ready"
        dep.llm.script(Text("first turn works"))
        await ws.send(json.dumps({"type": "chat", "request": {"message": "hi"}}))
        assert (await until_type(ws, "done"))["run_id"]
        asked = len(dep.llm.requests)

        dep.keys.revoke(rec.id)  # as `muxi keys revoke` does, from another process
        await ws.send(json.dumps(frame))
        err = await until_type(ws, "error")
        assert err["error"]["code"] == "unauthorized"
        assert await closed_code(ws) == 4401
    assert len(dep.llm.requests) == asked  # the model was not asked again


async def test_a_revoked_keys_idle_socket_is_closed(dep: Deployment) -> None:
    rec, key = dep.keys.create("user", "carol")
    async with connect(dep.ws_url, additional_headers=dep.headers(key)) as ws:
        assert (await recv(ws))["type"] == "ready"
        with dep.client() as c:  # revoked through the admin API this time
            r = c.delete(f"/v1/keys/{rec.id}", headers=dep.headers(dep.admin))
            assert r.status_code == 200, r.text
        started = time.monotonic()
        err = await recv(ws)
        assert err["type"] == "error" and err["error"]["code"] == "unauthorized"
        assert await closed_code(ws) == 4401
        assert time.monotonic() - started < 10


def test_a_revoked_keys_running_sse_stream_is_stopped(dep: Deployment) -> None:
    """The same hole over SSE: a stream already running when its key is revoked
    does not run to its end; it closes with an ``unauthorized`` failure."""
    rec, key = dep.keys.create("user", "carol")
    dep.llm.script(Slow(" ".join(["word"] * 60), delay=0.5, chunks=60))  # about 30 s
    events: list[dict[str, Any]] = []
    started = 0.0
    with (
        dep.client() as c,
        c.stream(
            "POST",
            "/v1/chat",
            json={"message": "talk for a while"},
            headers={**dep.headers(key), "accept": "text/event-stream"},
        ) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(json.loads(line[6:]))
            if events[-1]["type"] == "text.delta" and not started:
                dep.keys.revoke(rec.id)  # as `muxi keys revoke` does, from another process
                started = time.monotonic()
    assert started, "the stream never started"
    assert time.monotonic() - started < 15  # the reply alone would take about 30 s
    assert events[-1]["type"] == "run.failed"
    assert events[-1]["error"]["code"] == "unauthorized"


# -- 3. MCP resources and prompts follow the tool rules -----------------------------------


@pytest.mark.parametrize("server", ["loose", "locked"])
def test_a_user_key_cannot_reach_unattached_or_denied_servers(dep: Deployment, server: str) -> None:
    alice = dep.headers(dep.alice)
    with dep.client() as c:
        r = c.get(
            "/v1/mcp/resources/read",
            params={"server": server, "uri": "demo://readme"},
            headers=alice,
        )
        assert r.status_code == 403, r.text
        assert "hello from the demo server" not in r.text
        r = c.post(
            "/v1/mcp/prompts/render",
            json={"server": server, "name": "greet", "arguments": {"who": "Bo"}},
            headers=alice,
        )
        assert r.status_code == 403, r.text
        for listing in ("/v1/mcp/prompts", "/v1/mcp/resources"):
            assert c.get(listing, params={"server": server}, headers=alice).status_code == 403
            rows = c.get(listing, headers=alice).json()
            assert rows and {row["server"] for row in rows} == {"demo"}, rows
        # An admin key reaches every server.
        admin = dep.headers(dep.admin)
        r = c.get(
            "/v1/mcp/resources/read",
            params={"server": server, "uri": "demo://readme"},
            headers=admin,
        )
        assert r.status_code == 200 and "hello from the demo server" in r.text


def test_a_user_key_uses_the_servers_of_its_agents(dep: Deployment) -> None:
    alice = dep.headers(dep.alice)
    with dep.client() as c:
        r = c.get(
            "/v1/mcp/resources/read",
            params={"server": "demo", "uri": "demo://readme"},
            headers=alice,
        )
        assert r.status_code == 200 and "hello from the demo server" in r.json()["text"]
        r = c.post(
            "/v1/mcp/prompts/render",
            json={"server": "demo", "name": "greet", "arguments": {"who": "Bo"}},
            headers=alice,
        )
        assert r.status_code == 200 and "Bo" in r.json()["text"]


def test_listings_show_a_key_only_what_its_agents_use(dep: Deployment) -> None:
    """Next to hole 3: the server and tool listings follow the same rule, and a key
    limited to other agents (scopes) reaches none of these servers."""
    dep.wait_mcp_ready()
    _, elsewhere = dep.keys.create("user", "erin", "test", ["agent:someone-else"])
    with dep.client() as c:

        def servers(key: str) -> set[str]:
            r = c.get("/v1/mcp/servers", headers=dep.headers(key))
            assert r.status_code == 200, r.text
            return {s["name"] for s in r.json()}

        def tool_servers(key: str) -> set[str]:
            r = c.get("/v1/tools", headers=dep.headers(key))
            assert r.status_code == 200, r.text
            return {t["server"] for t in r.json()}

        assert {"demo", "locked", "loose"} <= servers(dep.admin)
        mine = servers(dep.alice)
        assert {"demo", "locked"} <= mine and "loose" not in mine  # none that no agent uses
        assert "loose" in tool_servers(dep.admin)
        assert "loose" not in tool_servers(dep.alice)
        kinds = {
            t["name"]: t["kind"] for t in c.get("/v1/tools", headers=dep.headers(dep.admin)).json()
        }
        assert kinds["calculator"] == "builtin" and kinds["demo__echo"] == "mcp"
        assert servers(elsewhere) == set()
        assert tool_servers(elsewhere) == set()
        r = c.get(
            "/v1/mcp/resources/read",
            params={"server": "demo", "uri": "demo://readme"},
            headers=dep.headers(elsewhere),
        )
        assert r.status_code == 403, r.text


# -- 9 (part). stderr tails of MCP servers only for admin keys ----------------------------


def test_mcp_stderr_tails_are_for_admin_keys_only(dep: Deployment) -> None:
    with dep.client() as c:
        wait_until(
            lambda: _broken(c, dep.admin).get("state") == "failed", 30, "broken did not fail"
        )
        assert LEAKED in (_broken(c, dep.admin).get("error") or "")
        row = _broken(c, dep.alice)
        assert row["state"] == "failed" and row["error"]
        assert LEAKED not in json.dumps(
            c.get("/v1/mcp/servers", headers=dep.headers(dep.alice)).json()
        )


def _broken(c: httpx.Client, key: str) -> dict[str, Any]:
    rows = c.get("/v1/mcp/servers", headers=Deployment.headers(key)).json()
    return next(r for r in rows if r["name"] == "broken")


# -- 8. odd input is a clean 4xx, a failing MCP server a 502 ------------------------------


def test_nul_bytes_in_queries_and_paths_are_refused_cleanly(dep: Deployment) -> None:
    alice = dep.headers(dep.alice)
    with dep.client() as c:
        dep.llm.script(Text("a reply with some words"))
        r = c.post(
            "/v1/chat", json={"message": "words to search", "approval": "deny"}, headers=alice
        )
        assert r.status_code == 200, r.text
        for path, params in [
            ("/v1/sessions", {"query": "wor\x00ds"}),
            ("/v1/sessions", {"query": "\x00\x00\x00"}),
            ("/v1/memory/search", {"q": "tea\x00"}),
            ("/v1/memory", {"kind": "fact\x00"}),
            ("/v1/tools", {"agent": "assistant\x00"}),
            ("/v1/sessions/s_%00", None),
            ("/v1/sessions/s_%01/messages", None),
            ("/v1/mcp/resources/read", {"server": "demo", "uri": "demo://readme\x00"}),
        ]:
            r = c.get(path, params=params, headers=alice)
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
            body = r.text
            assert str(dep.proc.home) not in body and "damaged" not in body, body
            assert r.json()["error"]["message"]


def test_mcp_caller_mistakes_are_4xx_and_upstream_failures_502(dep: Deployment) -> None:
    admin = dep.headers(dep.admin)
    with dep.client() as c:
        r = c.get(
            "/v1/mcp/resources/read", params={"server": "demo", "uri": "nope://x"}, headers=admin
        )
        assert r.status_code == 404, r.text
        r = c.post("/v1/mcp/prompts/render", json={"server": "demo", "name": "nope"}, headers=admin)
        assert r.status_code == 404, r.text
        r = c.post(
            "/v1/mcp/prompts/render", json={"server": "demo", "name": "greet"}, headers=admin
        )
        assert r.status_code == 400 and "who" in r.json()["error"]["message"], r.text
        r = c.get(
            "/v1/mcp/resources/read", params={"server": "nosuch", "uri": "x://y"}, headers=admin
        )
        assert r.status_code == 404, r.text
        for key in (dep.admin, dep.alice):  # a server that fails: 502 naming it
            r = c.get(
                "/v1/mcp/resources/read",
                params={"server": "broken", "uri": "x://y"},
                headers=dep.headers(key),
            )
            assert r.status_code == 502, r.text
            err = r.json()["error"]
            assert err["code"] == "mcp_server_error" and "'broken'" in err["message"]
            if key == dep.alice:
                assert LEAKED not in r.text
    assert "Traceback" not in dep.proc.log()


# -- 7. approvals are keyed by run and call, not by the provider's call id ----------------


async def _interactive_turn(
    c: httpx.AsyncClient, key: str, message: str, seen: list[dict[str, Any]]
) -> None:
    async with c.stream(
        "POST",
        "/v1/chat",
        json={"message": message, "approval": "interactive"},
        headers={**Deployment.headers(key), "accept": "text/event-stream"},
    ) as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))


def _pending(seen: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next(
        (e for e in seen if e["type"] == "tool.approval" and e["decision"] == "pending"), None
    )


@pytest.mark.parametrize("with_run_id", [False, True])
async def test_repeated_provider_call_ids_do_not_cross_users(
    dep: Deployment, with_run_id: bool
) -> None:
    same = ("call_0",)  # the provider sends the same id in every answer
    dep.llm.script(
        ToolCalls([("calculator", {"expression": "6*7"})], fixed_ids=same),
        ToolCalls([("calculator", {"expression": "1+1"})], fixed_ids=same),
    )
    dep.llm.set_default(Text("finished"))
    alice_seen: list[dict[str, Any]] = []
    bob_seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=dep.url, timeout=30) as c:
        alice = asyncio.create_task(_interactive_turn(c, dep.alice, "alice asks", alice_seen))
        await await_until(lambda: _pending(alice_seen) is not None, 20, "alice not pending")
        bob = asyncio.create_task(_interactive_turn(c, dep.bob, "bob asks", bob_seen))
        await await_until(lambda: _pending(bob_seen) is not None, 20, "bob not pending")
        try:
            for key, seen in ((dep.alice, alice_seen), (dep.bob, bob_seen)):
                pending = _pending(seen)
                assert pending is not None and pending["call_id"] == "call_0"
                body = {"decision": "allow"}
                if with_run_id:
                    body["run_id"] = pending["run_id"]
                r = await c.post("/v1/approvals/call_0", json=body, headers=dep.headers(key))
                assert r.status_code == 200, r.text
                assert r.json()["run_id"] == pending["run_id"]
            await asyncio.wait_for(asyncio.gather(alice, bob), 30)
        finally:
            for task in (alice, bob):
                task.cancel()
    for seen in (alice_seen, bob_seen):
        results = [e for e in seen if e["type"] == "tool.result"]
        assert results and results[0]["ok"], seen
        assert seen[-1]["type"] == "run.completed", seen[-1]
    assert alice_seen[0]["run_id"] != bob_seen[0]["run_id"]


async def test_a_user_cannot_answer_a_repeated_id_of_another_user(dep: Deployment) -> None:
    dep.llm.script(ToolCalls([("calculator", {"expression": "2*2"})], fixed_ids=("call_9",)))
    dep.llm.set_default(Text("finished"))
    seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=dep.url, timeout=30) as c:
        alice = asyncio.create_task(_interactive_turn(c, dep.alice, "alice asks", seen))
        try:
            await await_until(lambda: _pending(seen) is not None, 20, "alice not pending")
            run_id = seen[0]["run_id"]
            for body in ({"decision": "allow"}, {"decision": "allow", "run_id": run_id}):
                r = await c.post("/v1/approvals/call_9", json=body, headers=dep.headers(dep.bob))
                assert r.status_code == 404, r.text
            r = await c.post(
                "/v1/approvals/call_9", json={"decision": "deny"}, headers=dep.headers(dep.alice)
            )
            assert r.status_code == 200, r.text
            await asyncio.wait_for(alice, 30)
        finally:
            alice.cancel()
    assert seen[-1]["type"] == "run.completed"


async def test_websocket_approvals_carry_the_run_id(dep: Deployment) -> None:
    dep.llm.script(ToolCalls([("calculator", {"expression": "3*3"})], fixed_ids=("call_0",)))
    dep.llm.set_default(Text("finished"))
    async with connect(dep.ws_url, additional_headers=dep.headers(dep.bob)) as ws:
        assert (await recv(ws))["type"] == "ready"
        await ws.send(
            json.dumps({"type": "chat", "request": {"message": "go", "approval": "interactive"}})
        )
        for _ in range(100):
            frame = await recv(ws)
            if frame.get("type") == "tool.approval" and frame["decision"] == "pending":
                break
        await ws.send(
            json.dumps(
                {"type": "approve", "run_id": "run_wrong", "call_id": "call_0", "decision": "allow"}
            )
        )
        assert (await until_type(ws, "error"))["error"]["code"] == "not_found"
        await ws.send(
            json.dumps(
                {
                    "type": "approve",
                    "run_id": frame["run_id"],
                    "call_id": "call_0",
                    "decision": "allow",
                }
            )
        )
        done = await until_type(ws, "done")
        assert done["run_id"] == frame["run_id"]


# -- 6. unauthenticated clients cannot exhaust the server ---------------------------------


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    args = (
        "--rate",
        "0",
        "--header-timeout",
        "1",
        "--idle-timeout",
        "2",
        "--max-connections",
        "20",
    )
    with deployment(tmp_path_factory.mktemp("tight"), FORMATION_NO_MCP, args=args) as d:
        yield d


def _raw(dep: Deployment) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", dep.proc.port), timeout=10)
    return sock


def _closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closed ``sock`` (reading what it sends meanwhile)."""
    started = time.monotonic()
    sock.settimeout(limit)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


def test_a_half_sent_request_is_closed_within_the_header_timeout(tight: Deployment) -> None:
    with _raw(tight) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        assert _closed_after(sock, 8) < 5
    with _raw(tight) as sock:  # trickling bytes does not extend the deadline
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        closed = False
        while not closed and time.monotonic() - started < 8:
            try:
                sock.sendall(b"X-A: b\r\n")
                if select.select([sock], [], [], 0.3)[0]:
                    closed = sock.recv(4096) == b""
            except OSError:
                closed = True
        assert closed and time.monotonic() - started < 5


def test_idle_connections_beyond_the_cap_do_not_lock_out_health(tight: Deployment) -> None:
    socks = []
    try:
        for i in range(60):  # three times the cap, idle or half-sent
            sock = _raw(tight)
            if i % 2:
                sock.sendall(b"GET /health HTTP/1.1\r\n")
            socks.append(sock)
        for _ in range(3):
            started = time.monotonic()
            r = httpx.get(tight.url + "/health", timeout=5)
            assert r.status_code == 200 and time.monotonic() - started < 5
    finally:
        for sock in socks:
            sock.close()
    log = tight.proc.log()
    assert "Traceback" not in log and "Too many open files" not in log, log[-3000:]


def test_a_repeated_failure_is_logged_once_per_interval(tight: Deployment) -> None:
    for _ in range(30):  # garbage: uvicorn warns "Invalid HTTP request received." each time
        with _raw(tight) as sock:
            sock.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
            _closed_after(sock, 8)
    assert tight.proc.log().count("Invalid HTTP request received") == 1, tight.proc.log()


def test_the_rate_limit_filter_counts_what_it_dropped() -> None:
    now = [0.0]
    flt = RateLimitFilter(interval=60, clock=lambda: now[0])

    def record(msg: str, exc: type[BaseException] | None = None) -> logging.LogRecord:
        info = (exc, exc(), None) if exc else None
        return logging.LogRecord("asyncio", logging.ERROR, "x", 1, msg, None, info)

    passed = [flt.filter(record("accept failed", OSError)) for _ in range(1000)]
    assert passed.count(True) == 1
    assert flt.filter(record("another failure"))  # a different failure still shows
    now[0] = 61.0
    again = record("accept failed", OSError)
    assert flt.filter(again) and "999 more like this" in again.getMessage()
