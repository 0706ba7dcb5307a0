"""Limits, disconnects, shutdown, logs and error shapes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from muxi_cli.protocol.events import TextDelta, decode
from muxi_cli.server.context import ServerSettings
from muxi_cli.server.limits import ACCESS_LOGGER, RateLimiter
from muxi_cli.stores.server_keys import KeyStore
from tests.server.conftest import Served, start_server, stop_server
from tests.server.fakeruntime import FakeRuntime, Script

SSE = {"accept": "text/event-stream"}


async def _server(
    tmp_path: Path, **settings: float
) -> tuple[str, str, FakeRuntime, object, asyncio.Task[None]]:
    keys = KeyStore(tmp_path / "keys.json")
    _, key = keys.create("user", "alice")
    runtime = FakeRuntime()
    url, server, task = await start_server(runtime, keys, ServerSettings(**settings))  # type: ignore[arg-type]
    return url, key, runtime, server, task


async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    url, key, _rt, server, task = await _server(tmp_path, rate=0.5, burst=3)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            auth = {"authorization": f"Bearer {key}"}
            codes = [(await c.get("/v1/agents", headers=auth)).status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            r = await c.get("/v1/agents", headers=auth)
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["code"] == "rate_limited"
            # /health is not limited.
            assert (await c.get("/health")).status_code == 200
    finally:
        await stop_server(server, task)  # type: ignore[arg-type]


async def test_failed_auth_is_rate_limited_per_client(tmp_path: Path) -> None:
    url, _key, _rt, server, task = await _server(tmp_path, auth_fail_rate=0.5, auth_fail_burst=2)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            bad = {"authorization": "Bearer muxi_0000000000_guess"}
            codes = [(await c.get("/v1/me", headers=bad)).status_code for _ in range(3)]
            assert codes == [401, 401, 429]
    finally:
        await stop_server(server, task)  # type: ignore[arg-type]


def test_token_bucket_refills() -> None:
    now = [0.0]
    rl = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert rl.take("k") == 0 and rl.take("k") == 0
    assert rl.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert rl.take("k") == 0
    assert rl.take("other") == 0
    assert RateLimiter(rate=0, burst=1).take("k") == 0


async def test_body_size_limit_413(tmp_path: Path) -> None:
    url, key, _rt, server, task = await _server(tmp_path, max_body=2048)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            auth = {"authorization": f"Bearer {key}"}
            r = await c.post("/v1/chat", json={"message": "x" * 5000}, headers=auth)
            assert r.status_code == 413
            assert r.json()["error"]["code"] == "payload_too_large"

            async def chunks() -> AsyncIterator[bytes]:  # no content-length: chunked
                yield b'{"message": "'
                for _ in range(10):
                    yield b"y" * 500
                yield b'"}'

            r = await c.post("/v1/chat", content=chunks(), headers=auth)
            assert r.status_code == 413
            ok = await c.post("/v1/chat", json={"message": "small"}, headers=auth)
            assert ok.status_code == 200
    finally:
        await stop_server(server, task)  # type: ignore[arg-type]


async def test_sse_client_disconnect_cancels_and_keeps_partial(served: Served) -> None:
    # A dropped stream is cancelled once the resume grace passes with nobody back.
    served.server.config.app.state.ctx.registry.resume_grace = 0.3
    hold = asyncio.Event()
    served.runtime.script(Script(text="half of an answer", hold=hold))
    async with httpx.AsyncClient(base_url=served.url) as c:
        async with c.stream(
            "POST",
            "/v1/chat",
            json={"message": "go"},
            headers={**served.headers(served.alice), **SSE},
        ) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            sid = ""
            async for line in resp.aiter_lines():
                if line.startswith("data: "):
                    ev = decode(line[6:])
                    sid = ev.session_id
                    if isinstance(ev, TextDelta):
                        break
        # The stream is closed: the server must end the turn by itself.
        await asyncio.wait_for(served.runtime.turn_closed.wait(), 10)
        msgs = served.runtime.messages_[sid]
        assert msgs[-1].content == "half " and msgs[-1].status == "cancelled"
        r = await c.get(f"/v1/runs/{msgs[-1].run_id}/events", headers=served.headers(served.alice))
        last = decode(r.text.strip().split("data: ")[-1])
        assert last.type == "run.failed" and "did not resume it" in last.error["message"]
        assert served.server.config.app.state.ctx.registry.active == 0


async def test_json_client_disconnect_cancels(served: Served) -> None:
    hold = asyncio.Event()
    script = Script(text="never sent whole", hold=hold)
    served.runtime.script(script)
    async with httpx.AsyncClient(base_url=served.url) as c:
        req = asyncio.create_task(
            c.post("/v1/chat", json={"message": "go"}, headers=served.headers(served.alice))
        )
        await asyncio.wait_for(script.started.wait(), 10)
        req.cancel()
        with pytest.raises(asyncio.CancelledError):
            await req
    await asyncio.wait_for(served.runtime.turn_closed.wait(), 10)
    (msgs,) = served.runtime.messages_.values()
    assert msgs[-1].content == "never " and msgs[-1].status == "cancelled"


async def test_non_streaming_answer_shape(served: Served) -> None:
    served.runtime.script(Script(text="the answer", tool=True))
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.post(
            "/v1/chat",
            json={"message": "q", "approval": "yes"},
            headers=served.headers(served.alice),
        )
        body = r.json()
        assert body["status"] == "completed" and body["reply"] == "the answer"
        assert body["agent"] == "assistant" and body["session_id"] and body["run_id"]
        assert body["usage"]["model"] == "fake-model"
        (call,) = body["tool_calls"]
        assert call["tool"] == "calculator" and call["decision"] == "allowed" and call["ok"] is True
        r = await c.post(
            "/v1/chat",
            json={"message": "q", "approval": "interactive"},
            headers=served.headers(served.alice),
        )
        assert r.status_code == 400 and "stream" in r.json()["error"]["hint"]


async def test_graceful_shutdown_lets_a_turn_finish(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="finished in time", hold=hold))
    served.server.config.app.state.ctx.settings.shutdown_grace = 10
    async with httpx.AsyncClient(base_url=served.url) as c:
        events: list[dict[str, object]] = []
        async with c.stream(
            "POST",
            "/v1/chat",
            json={"message": "go"},
            headers={**served.headers(served.alice), **SSE},
        ) as resp:
            async for line in resp.aiter_lines():
                if not line.startswith("data: "):
                    continue
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "text.delta" and len(events) == 3:
                    served.server.should_exit = True
                    registry = served.server.config.app.state.ctx.registry
                    for _ in range(200):  # wait until the server drains (refuses new turns)
                        if registry.draining:
                            break
                        await asyncio.sleep(0.01)
                    r = await c.post(
                        "/v1/chat", json={"message": "late"}, headers=served.headers(served.bob)
                    )
                    assert r.status_code == 503
                    assert r.json()["error"]["code"] == "shutting_down"
                    hold.set()
        assert events[-1]["type"] == "run.completed"
        assert events[-1]["text"] == "finished in time"


async def test_graceful_shutdown_cancels_after_the_grace(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="too slow to finish", hold=hold))
    served.server.config.app.state.ctx.settings.shutdown_grace = 0.2
    async with httpx.AsyncClient(base_url=served.url) as c:
        events: list[dict[str, object]] = []
        async with c.stream(
            "POST",
            "/v1/chat",
            json={"message": "go"},
            headers={**served.headers(served.alice), **SSE},
        ) as resp:
            async for line in resp.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1]["type"] == "text.delta":
                        served.server.should_exit = True
    assert events[-1]["type"] == "run.failed"
    err = events[-1]["error"]
    assert isinstance(err, dict) and err["code"] == "cancelled"
    sid = str(events[0]["session_id"])
    assert served.runtime.messages_[sid][-1].content == "too "


async def test_access_log_is_json_without_secrets(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(caplog.handler)
    try:
        async with httpx.AsyncClient(base_url=served.url) as c:
            await c.get("/v1/sessions?query=hello", headers=served.headers(served.alice))
            await c.get("/v1/me", headers={"x-muxi-key": served.bob})
            await c.get("/v1/me", headers={"authorization": "Bearer muxi_0123456789_wrongsecret"})
    finally:
        logger.removeHandler(caplog.handler)
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [r["status"] for r in records] == [200, 200, 401]
    assert records[0]["key_id"] == served.alice.split("_")[1] and records[0]["user"] == "alice"
    assert records[0]["path"] == "/v1/sessions"
    text = caplog.text
    for secret in (served.alice, served.bob, "wrongsecret", "hello"):
        assert secret not in text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/chat", b"{not json"),
        ("POST", "/v1/chat", b'{"message": ""}'),
        ("POST", "/v1/chat", b'{"message": 3, "approval": "maybe"}'),
        ("POST", "/v1/chat", b'{"message": "x", "extra": 1}'),
        ("POST", "/v1/chat", b"[]"),
        ("POST", "/v1/memory", b'{"text": "x", "kind": "DROP TABLE"}'),
        ("GET", "/v1/sessions?limit=-1", b""),
        ("GET", "/v1/memory/search", b""),
        ("PATCH", "/v1/sessions/x", b'{"title": ""}'),
        ("POST", "/v1/approvals/x", b'{"decision": "perhaps"}'),
    ],
)
async def test_bad_input_is_a_400(served: Served, method: str, path: str, body: bytes) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.request(
            method,
            path,
            content=body or None,
            headers={**served.headers(served.alice), "content-type": "application/json"},
        )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "usage_error"


async def test_unknown_routes_and_methods_are_json(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.get("/v1/nothing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await c.put("/v1/agents", headers=served.headers(served.alice))
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
