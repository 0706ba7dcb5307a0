"""What is tried again and what is not, against a scripted stand-in server
(standard library, loopback): no real ``muxi serve`` answers 502 or
``shutting_down`` on demand.

Reads are retried after 429/502/503/504 (waiting what Retry-After asks, when
it is short); a POST that starts a turn after 503 ``shutting_down``, and (it
carries its idempotency key) after no answer of muxi's own; any other POST never.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from muxi_cli.client import AsyncClient, errors
from muxi_cli.protocol.apiversion import HEADER
from muxi_cli.protocol.events import RunCompleted, RunStarted, TextDelta

#: (status, body, headers) of one scripted answer.
Answer = tuple[int, bytes, dict[str, str]]


def error(status: int, code: str, **headers: str) -> Answer:
    body = json.dumps({"error": {"code": code, "message": code, "hint": None}}).encode()
    return status, body, {"content-type": "application/json", **headers}


def ok(obj: Any) -> Answer:
    return 200, json.dumps(obj).encode(), {"content-type": "application/json"}


def turn_stream() -> Answer:
    events = [
        RunStarted(run_id="run_1", session_id="ses_1", agent="assistant"),
        TextDelta(run_id="run_1", session_id="ses_1", text="hi"),
        RunCompleted(run_id="run_1", session_id="ses_1", text="hi"),
    ]
    body = "".join(f"id: {i}\ndata: {e.to_json()}\n\n" for i, e in enumerate(events, 1))
    headers = {
        "content-type": "text/event-stream",
        "x-muxi-run-id": "run_1",
        "x-muxi-session-id": "ses_1",
    }
    return 200, body.encode(), headers


class Scripted:
    """Answers each ``METHOD /path`` from its script, in order (the last one repeats)."""

    def __init__(self) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.calls: list[tuple[str, float]] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                key = f"{self.command} {self.path.split('?')[0]}"
                me.calls.append((key, time.monotonic()))
                queue = me.script.get(key) or [error(404, "not_found")]
                status, body, headers = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def count(self, key: str) -> int:
        return sum(1 for k, _ in self.calls if k == key)


@pytest.fixture
def stub() -> Iterator[Scripted]:
    s = Scripted()
    s.thread.start()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()
        s.thread.join(timeout=5)


async def test_a_read_is_retried_after_502_503_and_429(stub: Scripted) -> None:
    stub.script["GET /v1/me"] = [
        error(502, "bad_gateway"),
        error(503, "busy"),
        error(429, "rate_limited", **{"retry-after": "1"}),
        ok({"user_id": "alice"}),
    ]
    async with AsyncClient(stub.url, "muxi_x") as c:
        assert (await c.me())["user_id"] == "alice"
    times = [t for k, t in stub.calls if k == "GET /v1/me"]
    assert len(times) == 4
    assert times[3] - times[2] >= 0.95  # the wait Retry-After asked for


async def test_retries_are_bounded(stub: Scripted) -> None:
    stub.script["GET /v1/me"] = [error(503, "busy")]
    async with AsyncClient(stub.url, "muxi_x", retries=2) as c:
        with pytest.raises(errors.Unavailable) as caught:
            await c.me()
    assert caught.value.status == 503 and stub.count("GET /v1/me") == 3
    # A wait longer than the client waits by itself is the caller's to decide.
    stub.script["GET /v1/agents"] = [error(429, "rate_limited", **{"retry-after": "60"})]
    async with AsyncClient(stub.url, "muxi_x") as c:
        with pytest.raises(errors.RateLimited) as limited:
            await c.agents()
    assert limited.value.retry_after == 60 and stub.count("GET /v1/agents") == 1


async def test_a_turn_start_is_retried_only_while_the_server_shuts_down(stub: Scripted) -> None:
    stub.script["POST /v1/chat"] = [error(503, "shutting_down"), turn_stream()]
    async with AsyncClient(stub.url, "muxi_x") as c:
        result = await (await c.chat("hi"))
        assert (result.status, result.reply, stub.count("POST /v1/chat")) == ("completed", "hi", 2)
        stub.script["POST /v1/chat"] = [error(503, "busy")]
        with pytest.raises(errors.Unavailable):
            await c.chat("hi")
        assert stub.count("POST /v1/chat") == 3  # busy: not repeated


async def test_a_start_a_proxy_answered_for_is_sent_again_with_its_key(stub: Scripted) -> None:
    """Sent again only to a server that said it keeps keys (API 1.2+)."""
    bare = (502, b"<html>bad gateway</html>", {"content-type": "text/html"})
    me = (200, b'{"user_id": "u"}', {"content-type": "application/json", HEADER: "1.2"})
    stub.script["GET /v1/me"] = [me]
    stub.script["POST /v1/chat"] = [bare, bare, turn_stream()]
    async with AsyncClient(stub.url, "muxi_x") as c:
        await c.me()
        result = await (await c.chat("hi"))
    assert (result.status, stub.count("POST /v1/chat")) == ("completed", 3)
    stub.script["POST /v1/chat"] = [bare]  # bounded: the first try and 3 more
    async with AsyncClient(stub.url, "muxi_x") as c:
        await c.me()
        with pytest.raises(errors.ApiError) as caught:
            await c.chat("hi")
    assert caught.value.status == 502 and stub.count("POST /v1/chat") == 7


@pytest.mark.parametrize("version", [None, "1.1"])
async def test_a_lost_start_is_not_sent_again_to_a_server_without_keys(
    stub: Scripted, version: str | None
) -> None:
    """A server older than 1.2 ignores the key: a start it may have read (a
    proxy's 502 after the POST went) is not sent again, or the turn runs twice."""
    bare = (502, b"<html>bad gateway</html>", {"content-type": "text/html"})
    named = {HEADER: version} if version else {}
    stub.script["GET /v1/me"] = [(200, b"{}", {"content-type": "application/json", **named})]
    stub.script["POST /v1/chat"] = [bare, turn_stream()]
    async with AsyncClient(stub.url, "muxi_x") as c:
        await c.me()
        with pytest.raises(errors.ApiError) as caught:
            await c.chat("hi")
    assert caught.value.status == 502 and stub.count("POST /v1/chat") == 1


async def test_other_writes_are_never_repeated(stub: Scripted) -> None:
    stub.script["POST /v1/memory"] = [error(503, "shutting_down")]
    async with AsyncClient(stub.url, "muxi_x") as c:
        with pytest.raises(errors.Unavailable):
            await c.memory.add("x")
    assert stub.count("POST /v1/memory") == 1


async def test_retry_after_as_an_http_date_is_honoured(stub: Scripted) -> None:
    """Proxies send Retry-After as an HTTP date: a minute away is a wait longer
    than the client takes on itself, so it is raised at once with the seconds left
    (it was ignored: the read was tried again at once, three more times)."""
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    stub.script["GET /v1/me"] = [error(429, "rate_limited", **{"retry-after": later})]
    async with AsyncClient(stub.url, "muxi_x") as c:
        with pytest.raises(errors.RateLimited) as limited:
            await c.me()
    assert limited.value.retry_after is not None and 50 < limited.value.retry_after <= 60
    assert stub.count("GET /v1/me") == 1
