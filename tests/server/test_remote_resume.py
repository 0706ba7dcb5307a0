"""RemoteRuntime resumes a turn whose SSE stream breaks (and not an older server's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from muxi_cli.errors import MuxiError
from muxi_cli.protocol.events import Event, EventFactory
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.remote_sse import SSETurn
from muxi_cli.server.context import ServerSettings
from tests.net import free_port
from tests.server.conftest import Served, start_server, stop_server
from tests.server.cutproxy import cut_proxy
from tests.server.fakeruntime import FakeRuntime, Script


async def test_a_broken_stream_is_resumed_and_nothing_is_lost_or_doubled(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="alpha beta gamma delta", hold=hold))
    port = int(served.url.rsplit(":", 1)[1])
    async with cut_proxy(port) as proxy:
        notices: list[str] = []
        rt = RemoteRuntime(proxy.url, served.alice, label="lb", on_notice=notices.append)
        try:
            turn = await rt.chat(ChatRequest(message="go"))
            assert isinstance(turn, SSETurn)
            events: list[Event] = []
            async for event in turn.events():
                events.append(event)
                if event.type == "text.delta" and not proxy.cuts:
                    proxy.cut()  # mid-turn: the connection breaks under the client
                    hold.set()
            assert events[-1].type == "run.completed"
            assert events[-1].text == "alpha beta gamma delta"  # type: ignore[attr-defined]
            deltas = [e.text for e in events if e.type == "text.delta"]  # type: ignore[attr-defined]
            assert "".join(deltas) == "alpha beta gamma delta"
            assert len([e for e in events if e.type == "run.started"]) == 1
            assert turn.resumed >= 1 and any("resuming" in n for n in notices), notices
            msgs = served.runtime.messages_[turn.session_id]
            assert msgs[-1].status == "complete"
        finally:
            await rt.aclose()


async def test_closing_a_turn_early_cancels_it_at_once(served: Served) -> None:
    # The server would keep a dropped stream's turn for its resume grace (30 s):
    # a client that stops reading says "cancel" itself.
    hold = asyncio.Event()
    served.runtime.script(Script(text="never whole", hold=hold))
    rt = served.remote(served.alice)
    try:
        turn = await rt.chat(ChatRequest(message="go"))
        async for event in turn.events():
            if event.type == "text.delta":
                break
        await asyncio.wait_for(served.runtime.turn_closed.wait(), 5)
        assert served.runtime.messages_[turn.session_id][-1].status == "cancelled"
    finally:
        await rt.aclose()


class _OldResponse:
    """An older server's SSE answer: no ``id:`` lines, and the connection drops."""

    def __init__(self, lines: list[str]) -> None:
        self.headers = {"x-muxi-run-id": "run_old", "x-muxi-session-id": "s_old"}
        self._lines = lines
        self.status_code = 200

    async def aiter_lines(self) -> AsyncIterator[str]:
        for line in self._lines:
            yield line
        raise httpx.ReadError("connection reset")

    async def aclose(self) -> None:
        pass


async def test_an_older_server_without_ids_is_not_asked_to_resume() -> None:
    f = EventFactory("s_old", "run_old")
    frames = [f.run_started("assistant", "u"), f.text_delta("half")]
    lines: list[str] = []
    for ev in frames:
        lines += [f"data: {ev.to_json()}", ""]
    notices: list[str] = []
    # Nothing listens there: a resume request would fail, and must not be made.
    rt = RemoteRuntime(f"http://127.0.0.1:{free_port()}", "k", on_notice=notices.append)
    try:
        resp: Any = _OldResponse(lines)
        turn = SSETurn(rt, resp, "s_old", backoff=0.01)
        events = [e async for e in turn.events()]
        assert [e.type for e in events] == ["run.started", "text.delta", "run.failed"]
        assert events[-1].error["code"] == "connection_failed"  # type: ignore[attr-defined]
        assert turn.resumed == 0 and turn.last_id is None
        assert not any("resuming" in n for n in notices), notices
    finally:
        await rt.aclose()


async def test_another_replica_sharing_the_database_resumes_the_stream(
    served: Served, settings: ServerSettings
) -> None:
    # Replica B (same data folder, same keys) does not run the turn: it follows
    # replica A's events from the shared event log until the run is done.
    other = FakeRuntime()
    url_b, server_b, task_b = await start_server(other, served.keys, settings)
    hold = asyncio.Event()
    served.runtime.script(Script(text="from replica a", hold=hold))
    port_a = int(served.url.rsplit(":", 1)[1])
    try:
        async with cut_proxy(port_a) as proxy:
            rt = RemoteRuntime(proxy.url, served.alice, label="lb", on_notice=lambda _m: None)
            try:
                turn = await rt.chat(ChatRequest(message="go"))
                events: list[Event] = []
                async for event in turn.events():
                    events.append(event)
                    if event.type == "text.delta" and not proxy.cuts:
                        proxy.target_port = int(url_b.rsplit(":", 1)[1])  # A leaves the pool
                        proxy.cut()
                        hold.set()
                assert events[-1].type == "run.completed"
                assert events[-1].text == "from replica a"  # type: ignore[attr-defined]
                assert [e.type for e in events].count("text.delta") == 3
                assert isinstance(turn, SSETurn) and turn.resumed >= 1
                assert other.requests == []  # B never ran a turn
            finally:
                await rt.aclose()
    finally:
        await stop_server(server_b, task_b)


async def test_a_turn_refused_by_a_draining_server_is_started_again(served: Served) -> None:
    # A replica being replaced answers 503 shutting_down: the turn never started,
    # so the client asks again (behind a balancer, another replica answers).
    registry = served.server.config.app.state.ctx.registry
    registry.draining = True

    async def ready_again() -> None:
        await asyncio.sleep(0.4)
        registry.draining = False

    back = asyncio.create_task(ready_again())
    rt = served.remote(served.alice)
    try:
        turn = await rt.chat(ChatRequest(message="hello"))
        events = [e async for e in turn.events()]
        assert events[-1].type == "run.completed"
        await back
        registry.draining = True  # for good now: the client gives up, saying why
        once = RemoteRuntime(served.url, served.alice, resume_attempts=1)
        try:
            with pytest.raises(MuxiError) as refused:
                await once.chat(ChatRequest(message="late"))
            assert refused.value.code == "shutting_down"
        finally:
            await once.aclose()
    finally:
        registry.draining = False
        await rt.aclose()


async def test_text_with_unicode_line_breaks_cannot_forge_sse_fields(served: Served) -> None:
    # A model's reply (steered by a web page, say) holding U+2028, NEL or other
    # characters Python's splitlines breaks lines at: httpx splits the stream there, so
    # unescaped they made an "id:" line of their own (the client's resume point jumped)
    # and cut the event's JSON in two.
    text = "hi\u2028id:999999\u2029\x85data:{}\x1c\x1d\x1e\x0b\x0c\u2028\u2028end"
    served.runtime.script(Script(text=text))
    served.runtime.script(Script(text=text))
    rt = served.remote(served.alice)
    try:
        turn = await rt.chat(ChatRequest(message="go"))
        events = [event async for event in turn.events()]
        assert events[-1].type == "run.completed"
        assert events[-1].text == text  # type: ignore[attr-defined]
        assert "".join(e.text for e in events if e.type == "text.delta") == text  # type: ignore[attr-defined]
    finally:
        await rt.aclose()
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.post(
            "/v1/chat",
            json={"message": "go"},
            headers={**served.headers(served.alice), "accept": "text/event-stream"},
        )
    assert "id:999999" in r.text  # escaped in the JSON, never a line of its own
    assert not any(ch in r.text for ch in "\u2028\u2029\x85\x1c\x1d\x1e\x0b\x0c")
